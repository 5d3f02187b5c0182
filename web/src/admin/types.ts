/** The gateway's JSON for the admin console (services/gateway/src/admin-view.ts: one definition, ADR 0010). */
export type {
  ActivationView,
  InvitationView as Invitation,
  StaffUserListView,
  StaffUserView as StaffUser,
  UsageCountsView as UsageCounts,
  UsageReportView as UsageReport,
  UserStateName as UserState,
} from '../../../services/gateway/src/admin-view';
