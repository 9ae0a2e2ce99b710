/**
 * The dashboard's shell: navigation, the view the URL's hash names (`#/`, `#/devices`,
 * `#/devices/NAME`, `#/placements`, `#/placements/NS/NAME`), and a sign-in form for a bearer
 * token when the hub asks for credentials (the dashboard opened on the hub, not through
 * `outpost dashboard`). The fleet's collections are followed once here and shared by the views.
 */
import { useEffect, useState } from 'preact/hooks';
import { bearerToken, setBearerToken } from './api.ts';
import { useCollection } from './collection.ts';
import { type Device, PATHS, type Placement, type Workload } from './objects.ts';
import { DeviceDetail } from './views/device.tsx';
import { Devices } from './views/devices.tsx';
import { Overview } from './views/overview.tsx';
import { PlacementDetail, Placements } from './views/placements.tsx';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash.replace(/^#/, '') || '/';
}

export function App() {
  const route = useHash();
  // A browser keeps at most six HTTP/1.1 connections to one origin, and every watch holds one:
  // only the collections the current view shows are followed (Devices by every view but
  // Placements, kept across them so that ten thousand are not listed again on each visit).
  const overview = route === '/';
  const devices = useCollection<Device>(PATHS.devices);
  const workloads = useCollection<Workload>(overview ? PATHS.workloads : undefined);
  const placements = useCollection<Placement>(
    overview || route.startsWith('/placements') ? PATHS.placements : undefined,
  );
  useEffect(() => {
    // A new view is announced by moving focus to it (for keyboard and screen-reader users).
    document.getElementById('content')?.focus();
  }, [route]);
  if (devices.error?.status === 401) return <SignIn />;
  const parts = route.split('/').filter(Boolean).map(decodeURIComponent);
  let view: preact.ComponentChild;
  if (parts[0] === 'devices' && parts[1]) view = <DeviceDetail name={parts[1]} devices={devices} />;
  else if (parts[0] === 'devices') view = <Devices devices={devices} />;
  else if (parts[0] === 'placements' && parts[2])
    view = <PlacementDetail placements={placements} keyName={`${parts[1]}/${parts[2]}`} />;
  else if (parts[0] === 'placements') view = <Placements placements={placements} />;
  else view = <Overview devices={devices} workloads={workloads} placements={placements} />;
  const current = (prefix: string) =>
    (prefix === '/' ? route === '/' : route.startsWith(prefix)) ? ('page' as const) : undefined;
  return (
    <>
      <header>
        <span class="brand">Outpost</span>
        <nav aria-label="Views">
          <a href="#/" aria-current={current('/')}>
            Overview
          </a>
          <a href="#/devices" aria-current={current('/devices')}>
            Devices
          </a>
          <a href="#/placements" aria-current={current('/placements')}>
            Placements
          </a>
        </nav>
        {bearerToken() && (
          <button
            type="button"
            onClick={() => {
              setBearerToken(undefined);
              location.reload();
            }}
          >
            Sign out
          </button>
        )}
      </header>
      <div id="content" tabIndex={-1}>
        {view}
      </div>
    </>
  );
}

function SignIn() {
  const [token, setToken] = useState('');
  return (
    <main aria-labelledby="signin-title" class="signin">
      <h1 id="signin-title">Sign in to Outpost</h1>
      <p>
        Paste a token from <code>outpost user token NAME</code>, or open the dashboard through{' '}
        <code>outpost dashboard</code>, which signs in with your kubeconfig.
      </p>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          setBearerToken(token.trim());
          location.reload();
        }}
      >
        <label>
          Token
          <input
            type="password"
            name="token"
            value={token}
            onInput={(event) => setToken(event.currentTarget.value)}
          />
        </label>
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}
