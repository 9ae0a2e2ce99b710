/** Authentication of hub requests (authorisation arrives with RBAC). */
export { type Authenticator, createAuthenticator, type Identity } from './authenticate.ts';
