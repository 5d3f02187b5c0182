/**
 * The admin's staff users: everyone with their role, state and second factor; invite one with a role (the
 * activation link is shown once), disable or enable an account, reset a second factor. Each is one identity RPC
 * through the gateway, which records its event; a refusal (the last admin, an address already taken) is shown in
 * the card.
 */
import { dateTimeOf } from '../staff/time';
import { useContext, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { Field, FormMessages, formValue, messageOf, useForm } from '../staff/form';
import { SessionContext } from '../staff/session';
import { ROLE_LABELS } from '../staff/types';
import type { Invitation, StaffUser, StaffUserListView } from './types';
import { useReload } from '../api/use-reload';

// The invite form's fields carry an `invite-` prefix: the front desk on the same page has an `email` field too.
const INVITE_LABELS = { 'invite-email': 'E-mail', 'invite-displayName': 'Full name', 'invite-role': 'Role' };

/** The gateway's violations on `email`, `displayName`, `role` renamed to this form's fields. */
function onInviteFields(err: unknown): unknown {
  if (!(err instanceof ApiError) || err.fieldViolations.length === 0) return err;
  return new ApiError(
    err.status,
    {
      error: {
        code: err.code,
        message: err.message,
        fieldViolations: err.fieldViolations.map((v) => ({ ...v, field: `invite-${v.field}` })),
      },
    },
    { cause: err },
  );
}
const STATE_LABELS: Readonly<Record<string, string>> = {
  invited: 'invited',
  active: 'active',
  locked: 'locked',
  disabled: 'disabled',
};

type UserAction = 'disable' | 'enable' | 'reset-mfa';
const DONE: Readonly<Record<UserAction, string>> = {
  disable: 'was disabled and signed out everywhere',
  enable: 'can sign in again',
  'reset-mfa': 'sets up a new second factor at the next sign-in',
};

/** Where the invited person sets their password: this page with the token in the fragment. */
export function activationUrl(invitation: Pick<Invitation, 'activationPath'>): string {
  return `${window.location.origin}${invitation.activationPath}`;
}

/**
 * One user. `self` is the signed-in admin's own row: identity refuses deactivating one's own account, so the row
 * offers no Disable and says whose it is.
 */
function UserRow({
  user,
  self,
  onAction,
}: {
  user: StaffUser;
  self: boolean;
  onAction: (u: StaffUser, a: UserAction) => void;
}) {
  const name = user.displayName || user.email;
  const button = (action: UserAction, label: string, ariaLabel: string) => (
    <button
      type="button"
      className="button button-quiet"
      aria-label={ariaLabel}
      onClick={() => onAction(user, action)}
    >
      {label}
    </button>
  );
  return (
    <li className="row" data-user={user.id}>
      <div className="row-main">
        <strong>{name}</strong>
        <span className="hint">{user.email}</span>
        <span className="badge">{ROLE_LABELS[user.role] ?? user.role}</span>
        <span className={`badge badge-user-${user.state}`}>{STATE_LABELS[user.state] ?? user.state}</span>
        {self ? <span className="hint">you</span> : null}
        {user.state === 'active' && !user.mfaEnrolled ? (
          <span className="hint">no second factor yet</span>
        ) : null}
      </div>
      <div className="row-actions">
        {user.state === 'disabled'
          ? button('enable', 'Enable', `Enable ${name}`)
          : self
            ? null
            : button('disable', 'Disable', `Disable ${name}`)}
        {user.mfaEnrolled
          ? button('reset-mfa', 'Reset second factor', `Reset the second factor of ${name}`)
          : null}
      </div>
    </li>
  );
}

/** The users card. */
export function UsersCard() {
  const [users, setUsers] = useState<readonly StaffUser[] | null>(null);
  const [status, setStatus] = useState<{ kind: 'error' | 'done'; text: string } | null>(null);
  const [invitation, setInvitation] = useState<Invitation | null>(null);
  const form = useForm(INVITE_LABELS);
  const myId = useContext(SessionContext)?.me.sub;

  const load = useReload(
    () => api<StaffUserListView>('GET', '/api/users'),
    (r) => setUsers(r.users),
    (err) => setStatus({ kind: 'error', text: messageOf(err) }),
  );

  const act = (user: StaffUser, action: UserAction) => {
    const name = user.displayName || user.email;
    if (action === 'disable' && !window.confirm(`Disable ${name}? They are signed out everywhere.`)) return;
    setStatus(null);
    void api('POST', `/api/users/${encodeURIComponent(user.id)}/${action}`, {})
      .then(async () => {
        setStatus({ kind: 'done', text: `${name} ${DONE[action]}.` });
        await load();
      })
      .catch((err: unknown) => setStatus({ kind: 'error', text: messageOf(err) }));
  };

  const invite = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    const data = new FormData(el);
    setInvitation(null);
    void form.run(el, async () => {
      const r = await api<Invitation>('POST', '/api/users', {
        email: formValue(data, 'invite-email'),
        displayName: formValue(data, 'invite-displayName'),
        role: formValue(data, 'invite-role'),
      }).catch((err: unknown) => {
        throw onInviteFields(err);
      });
      el.reset();
      setInvitation(r);
      await load();
    });
  };

  return (
    <section id="admin-users" className="card" aria-labelledby="admin-users-title">
      <h2 id="admin-users-title">Staff and roles</h2>
      {status ? (
        <p
          id="admin-users-status"
          className={status.kind === 'error' ? 'form-error' : 'form-success'}
          role={status.kind === 'error' ? 'alert' : 'status'}
        >
          {status.text}
        </p>
      ) : null}
      {users ? (
        <ul id="admin-users-list" className="list" aria-label="Staff users">
          {users.map((u) => (
            <UserRow key={u.id} user={u} self={u.id === myId} onAction={act} />
          ))}
        </ul>
      ) : status?.kind === 'error' ? null : (
        <p className="loading">Loading…</p>
      )}
      <h3 id="admin-invite-title">Invite someone</h3>
      <form id="admin-invite" noValidate onSubmit={invite} aria-labelledby="admin-invite-title">
        <div className="grid">
          <Field name="invite-email" label="E-mail" type="email" autoComplete="off" state={form} required />
          <Field name="invite-displayName" label="Full name" autoComplete="off" state={form} required />
          <Field name="invite-role" label="Role" state={form}>
            <select
              id="invite-role"
              name="invite-role"
              defaultValue="clinician"
              aria-describedby="invite-role-error"
            >
              <option value="clinician">Clinician</option>
              <option value="front_desk">Front desk</option>
              <option value="auditor">Auditor</option>
              <option value="admin">Administrator</option>
            </select>
          </Field>
        </div>
        <FormMessages id="admin-invite" state={form} />
        <button type="submit" className="button button-primary" disabled={form.busy}>
          Invite
        </button>
      </form>
      {invitation ? (
        <div id="admin-invitation" className="form-success" role="status">
          <p>
            {`${invitation.user?.displayName ?? 'They'} can set a password with this link` +
              (invitation.invitationExpireTime
                ? ` until ${dateTimeOf(invitation.invitationExpireTime)}`
                : '') +
              '. It is shown only once: give it to them in person or by your usual secure channel.'}
          </p>
          <input
            id="admin-invitation-link"
            aria-label="Activation link"
            readOnly
            value={activationUrl(invitation)}
            onFocus={(e) => e.currentTarget.select()}
          />
        </div>
      ) : null}
    </section>
  );
}
