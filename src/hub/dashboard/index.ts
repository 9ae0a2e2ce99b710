/**
 * The web dashboard's files (built from `src/ui` by Vite into `dist/ui`) served at `/ui/`. The
 * files hold no data: every view reads the API with the viewer's own credentials, so RBAC decides
 * what each person sees.
 */
export { type DashboardOptions, DEFAULT_DASHBOARD_DIR, dashboardRoutes } from './routes.ts';
