/** The passkey aggregates as the event-store plumbing runs them (decide, evolve, initial state). */
import type { PureDecider } from '../shared/streams';
import { decideCeremony, decidePasskeys, type CeremonyCommand, type PasskeysCommand } from './decide';
import {
  evolveCeremony,
  evolvePasskeys,
  initialCeremonyState,
  initialPasskeysState,
  type CeremonyEvent,
  type CeremonyState,
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
