/**
 * The SMS STOP list as the outbox sees it: a projection of the SmsContact events fed by the outbox's own follower
 * (so it is rebuilt from the store after a restart, and every replica's follower sees every replica's STOP), not
 * a stream read per SMS. Over an in-memory store that counts the reads of SmsContact streams.
 */
import { InMemoryPatientKeyStore } from '@haven/crypto/testing';
import { InMemoryEventStore, newEvent, type ReadOptions } from '@haven/eventstore';
import { createLogger } from '@haven/service';
import { eventually } from '@haven/testing';
import { contactKeyer } from '../contact/contact-key';
import { SmsContactEventType, smsContactStream } from '../contact/contact';
import { ReminderChannel, ReminderEventType, reminderStream } from './reminder';
import { CapturingTransport, givenDueMessageNotice, givenRegisteredPatient, testOutbox } from '../testing';

const actor = { kind: 'service', id: 'scheduling' } as const;
const PHONE = '+15550100300';
const keyer = contactKeyer(Buffer.alloc(32, 7));

class CountingStore extends InMemoryEventStore {
  contactReads = 0;
  override read(stream: string, options?: ReadOptions) {
    if (stream.startsWith('scheduling.sms_contact-')) this.contactReads += 1;
    return super.read(stream, options);
  }
}

async function given() {
  const store = new CountingStore();
  const keys = new InMemoryPatientKeyStore();
  const patientId = 'pat-stop';
  await givenRegisteredPatient(store, keys, patientId, { givenName: 'C', familyName: 'P', phone: PHONE });
  const sms = new CapturingTransport(ReminderChannel.Sms);
  const logger = createLogger({ service: 'test', level: 'silent' });
  const outbox = testOutbox(
    { store, keys, logger },
    [sms],
    { domain: 'stop.test', clinicName: 'Stop Clinic' },
    { policy: { channels: [ReminderChannel.Sms], offsetsMinutes: [] }, contactKeyer: keyer },
  );
  const follower = await outbox.follow(store, logger);
  let n = 0;
  /** The notice of a new secure message by SMS, due now; resolves with its stream's last event. */
  const send = async () => {
    const reminderId = await givenDueMessageNotice(store, {
      patientId,
      channel: ReminderChannel.Sms,
      threadId: 'thread-stop',
      secureMessageId: `msg-stop-${n++}`,
    });
    await eventually('the outbox saw the reminder', () => outbox.openCount() > 0);
    await outbox.tick();
    return (await store.read(reminderStream(reminderId))).at(-1);
  };
  const reply = async (type: string, keyword: string) => {
    const contactKey = keyer(PHONE);
    await store.append(smsContactStream(contactKey), 'any', [
      newEvent({
        type,
        data: { contactKey, keyword, source: 'webhook', at: new Date().toISOString() },
        actor,
      }),
    ]);
  };
  return { store, sms, send, reply, close: () => follower.close() };
}

describe('an SMS to a number that replied STOP', () => {
  it('is suppressed from the projection, and sent again after START, without reading the contact stream', async () => {
    const { store, sms, send, reply, close } = await given();
    try {
      expect((await send())?.type).toBe(ReminderEventType.Sent);
      await reply(SmsContactEventType.OptedOut, 'STOP');
      await eventually('the STOP seen', async () => {
        const last = await send();
        return last?.type === ReminderEventType.Suppressed && last.data['reason'] === 'opted_out';
      });
      const sentBefore = sms.sent.length;
      await reply(SmsContactEventType.OptedIn, 'START');
      await eventually('the START seen', async () => (await send())?.type === ReminderEventType.Sent);
      expect(sms.sent.length).toBe(sentBefore + 1);
      expect(store.contactReads).toBe(0);
    } finally {
      await close();
    }
  });
});
