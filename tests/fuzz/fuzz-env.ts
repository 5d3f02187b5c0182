/**
 * Identity settings for fuzz runs: the login throttles would otherwise turn most of the run's Login and
 * IssueServiceAccountToken calls (all from 127.0.0.1, nearly all wrong) into RESOURCE_EXHAUSTED after twenty
 * failures — which tests the throttle, not the code behind it (tests/security/login-throttle does that).
 */
export const FUZZ_IDENTITY_ENV: Readonly<Record<string, string>> = {
  HAVEN_LOGIN_ADDRESS_FAILURES: '100000',
  HAVEN_LOGIN_ACCOUNT_FAILURES: '100000',
};
