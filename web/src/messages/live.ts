/**
 * The live push of secure messages: the gateway's live channel says `messages` (a thread's id and counts, never
 * text) when a message is posted, read, or the thread is opened or closed, to the pages of the thread's members
 * only. The page then reads the list or the thread itself (each read of the text is a PhiAccessed).
 */
import { useEffect, useState } from 'react';
import { refreshUnlessRefused } from '../api/client';
import { openLive, type LiveMessage } from '../live/live-channel';
import type { MessagesLive as MessagesPush } from '../../../services/gateway/src/live-view';

/** A `messages` push. */
export type { MessagesPush };

/** The newest push for the patient's page (`as: 'patient'`) or the staff app; a new object per push. */
export function useMessagesPush(as?: 'patient'): MessagesPush | undefined {
  const [push, setPush] = useState<MessagesPush | undefined>();
  useEffect(() => {
    const channel = openLive<LiveMessage>({
      ...(as ? { as } : {}),
      ...(as
        ? {}
        : {
            refresh: refreshUnlessRefused,
          }),
      onMessage: (m) => {
        if (m.type === 'messages') setPush(m);
      },
    });
    return () => channel.close();
  }, [as]);
  return push;
}

/**
 * Whether an open thread should be read again for `push`: a new message (the count differs), a receipt while
 * one of `mine` still shows unread, or the thread was closed or reopened; or any push about it while a read is
 * on its way (that read may be older than the push, and what is shown older still).
 */
export function pushChangesThread(
  push: MessagesPush | undefined,
  view: {
    readonly threadId: string;
    readonly messageCount: number;
    readonly unreadOfMine: number;
    readonly open: boolean;
    /** A read of the thread is on its way. */
    readonly reading?: boolean;
  },
): boolean {
  if (!push || push.threadId !== view.threadId) return false;
  return (
    view.reading === true ||
    push.messageCount !== view.messageCount ||
    (push.events.includes('read') && view.unreadOfMine > 0) ||
    push.open !== view.open
  );
}
