/**
 * Authentication of hub requests: client certificates (people and devices)
 * and bearer tokens, with device certificates revoked as soon as their
 * Device is deleted; impersonation (`kubectl --as`), checked by RBAC and
 * never by or as a device; authorisation (RBAC, the device rules), and RBAC's
 * privilege-escalation check on writes of roles and bindings.
 */
export {
  type Authenticator,
  type AuthenticatorOptions,
  certificateDeviceOf,
  createAuthenticator,
  type Identity,
} from './authenticate.ts';
export {
  ALLOW_ALL,
  type Authorizer,
  authorizeRequest,
  authorizerOver,
  type Decision,
  forbidden,
  type RulesReviewStatus,
} from './authorize.ts';
export {
  AUTHENTICATED_GROUP,
  type RequestAttributes,
  requestAttributes,
  UNAUTHENTICATED_GROUP,
} from './authorize-attributes.ts';
export { DEVICE_RULES, deviceAllows } from './authorize-device.ts';
export { registerAccessReviews } from './authorize-reviews.ts';
export {
  claimsDevice,
  DEVICE_UID_URI_PREFIX,
  DEVICE_USER_PREFIX,
  DEVICES_GROUP,
  type DeviceCertificateName,
  deviceUser,
  GATEWAY_BRIDGE_USER_PREFIX,
  uidsOf,
} from './device-identity.ts';
export { type Connection, DeviceIndex, type DeviceIndexStartOptions } from './device-index.ts';
export {
  type ActAsOptions,
  actAs,
  asksToImpersonate,
  HUB_USER_PREFIX,
  type ImpersonationRequest,
  impersonate,
  impersonationOf,
  refusingImpersonation,
} from './impersonation.ts';
export {
  AGGREGATE_TO_WORKLOAD_TEAM,
  aggregatedRules,
  aggregationSelectors,
  isAggregating,
  sameRules,
} from './rbac-aggregation.ts';
export {
  BUILT_IN_CLUSTER_ROLE_BINDINGS,
  BUILT_IN_CLUSTER_ROLES,
  ensureBootstrapPolicy,
  MASTERS_GROUP,
  MONITORING_GROUP,
  WORKLOAD_TEAMS_GROUP,
} from './rbac-bootstrap.ts';
export {
  createRbacEscalationAdmission,
  type RbacEscalationAdmissionOptions,
} from './rbac-escalation-admission.ts';
export { RbacIndex, type RbacIndexOptions } from './rbac-index.ts';
export {
  createUserTokenVerifier,
  signUserToken,
  type UserTokenClaims,
  type UserTokenVerifier,
} from './user-token.ts';
