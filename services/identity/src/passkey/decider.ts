/** The passkey aggregates as the event-store plumbing runs them (decide, evolve, initial state). */
import type { PureDecider } from '../shared/streams';
import {
  decideCeremony,
  decidePasskeyPolicy,
  decidePasskeys,
  type CeremonyCommand,
  type PasskeysCommand,
  type SetPasskeyPolicy,
} from './decide';
import {
  evolveCeremony,
  evolvePasskeyPolicy,
  evolvePasskeys,
  initialCeremonyState,
  initialPasskeyPolicyState,
  initialPasskeysState,
  type CeremonyEvent,
  type CeremonyState,
  type PasskeyPolicyEvent,
  type PasskeyPolicyState,
  type PasskeysEvent,
  type PasskeysState,
} from './passkey';

export const ceremonyDecider: PureDecider<CeremonyCommand, CeremonyEvent, CeremonyState> = {
  decide: decideCeremony,
  evolve: evolveCeremony,
  initialState: initialCeremonyState,
};

export const passkeysDecider: PureDecider<PasskeysCommand, PasskeysEvent, PasskeysState> = {
  decide: decidePasskeys,
  evolve: evolvePasskeys,
  initialState: initialPasskeysState,
};

export const passkeyPolicyDecider: PureDecider<SetPasskeyPolicy, PasskeyPolicyEvent, PasskeyPolicyState> = {
  decide: decidePasskeyPolicy,
  evolve: evolvePasskeyPolicy,
  initialState: initialPasskeyPolicyState,
};
