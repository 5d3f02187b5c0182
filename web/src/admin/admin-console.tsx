/**
 * The admin console (role admin), mounted by the staff app's home: staff users and roles, the clinic settings,
 * the usage report, the patient message templates and erasing a patient. Add a card here (one import and one line) rather than in the staff app.
 */
import './admin.css';
import { EraseCard } from './erase-card';
import { MailCard } from './mail-card';
import { SettingsCard } from './settings-card';
import { TemplateEditor } from './template-editor';
import { UsageCard } from './usage-card';
import { UsersCard } from './users-card';

/** Every admin card, in order. */
export function AdminConsole() {
  return (
    <div id="admin-console">
      <UsersCard />
      <SettingsCard />
      <UsageCard />
      <TemplateEditor />
      <MailCard />
      <EraseCard />
    </div>
  );
}
