/** The SsoAccount aggregate as the event-store plumbing runs it (decide, evolve, initial state). */
import type { PureDecider } from '../shared/streams';
import { decideSsoAccount, type SsoAccountCommand } from './decide';
import {
  evolveSsoAccount,
  initialSsoAccountState,
  type SsoAccountEvent,
  type SsoAccountState,
} from './sso-account';

export const ssoAccountDecider: PureDecider<SsoAccountCommand, SsoAccountEvent, SsoAccountState> = {
  decide: decideSsoAccount,
  evolve: evolveSsoAccount,
  initialState: initialSsoAccountState,
};
