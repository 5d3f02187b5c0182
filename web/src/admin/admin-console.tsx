/**
 * The admin console (role admin), mounted by the staff app's home: staff users and roles, and the usage report.
 * Add a card here (one import and one line) rather than in the staff app.
 */
import { UsageCard } from './usage-card';
import { UsersCard } from './users-card';

/** Every admin card, in order. */
export function AdminConsole() {
  return (
    <div id="admin-console">
      <UsersCard />
      <UsageCard />
    </div>
  );
}
