/** The recordings of one open visit, as a panel beside it in the clinician's console (../staff/panels.ts). */
import type { VisitPanelProps } from '../staff/panels';
import { RecordingsList } from './recordings-list';

/** The visit's recordings with their player; a finishing one shows its processing percent. */
export function VisitRecordingsPanel({ visitId }: VisitPanelProps) {
  return (
    <div id="visit-recordings">
      <RecordingsList
        key={visitId}
        listUrl={`/api/recordings?visit=${encodeURIComponent(visitId)}`}
        role="clinician"
        title="Recordings of this visit"
        headingLevel={3}
      />
    </div>
  );
}
