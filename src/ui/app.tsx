/**
 * The dashboard's shell: navigation, the namespace picker, the view the URL's hash names (`#/`,
 * `#/devices`, `#/devices/NAME`, `#/placements`, `#/placements/NS/NAME`, `#/connectors`), and a
 * sign-in form for a bearer token when the hub asks for credentials (the dashboard opened on the
 * hub, not through `outpost dashboard`). The fleet's collections are followed once here and
 * shared by the views.
 */
import { useEffect, useState } from 'preact/hooks';
import { bearerToken, getJson, setBearerToken } from './api.ts';
import { useCollection } from './collection.ts';
import {
  type Device,
  type KubeObject,
  namespacedPath,
  type OpcUaConnector,
  PATHS,
  type Placement,
  type Workload,
} from './objects.ts';
import { Connectors } from './views/connectors.tsx';
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
  const [namespace, setNamespace] = useNamespace();
  const devices = useCollection<Device>(PATHS.devices);
  const workloads = useCollection<Workload>(overview ? namespacedPath('workloads', namespace) : undefined);
  const placements = useCollection<Placement>(
    overview || route.startsWith('/placements') ? namespacedPath('placements', namespace) : undefined,
  );
  const connectors = useCollection<OpcUaConnector>(
    route.startsWith('/connectors') ? namespacedPath('opcuaconnectors', namespace) : undefined,
  );
  // A role bound in one namespace cannot list every namespace's objects: say where to look.
  const narrower =
    !namespace && [workloads, placements, connectors].some((collection) => collection.error?.status === 403);
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
    view = <PlacementDetail placements={placements} devices={devices} keyName={`${parts[1]}/${parts[2]}`} />;
  else if (parts[0] === 'placements') view = <Placements placements={placements} />;
  else if (parts[0] === 'connectors') view = <Connectors connectors={connectors} namespace={namespace} />;
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
          <a href="#/connectors" aria-current={current('/connectors')}>
            Connectors
          </a>
        </nav>
        <NamespacePicker namespace={namespace} onChange={setNamespace} />
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
        {narrower && (
          <p class="hint" role="status">
            Your role does not reach every namespace: type yours in Namespace above to see its placements,
            workloads and connectors.
          </p>
        )}
        {view}
      </div>
    </>
  );
}

const NAMESPACE_KEY = 'outpost.namespace';

/** The namespace the views show ('' for all), kept for this tab. */
function useNamespace(): [string, (namespace: string) => void] {
  const [namespace, setNamespace] = useState(() => sessionStorage.getItem(NAMESPACE_KEY) ?? '');
  return [
    namespace,
    (next: string) => {
      if (next) sessionStorage.setItem(NAMESPACE_KEY, next);
      else sessionStorage.removeItem(NAMESPACE_KEY);
      setNamespace(next);
    },
  ];
}

/**
 * Which namespace the Placements, Workloads and connectors come from: all (a cluster-wide list)
 * or one. The namespaces are suggested when the viewer may list them (one request, not a watch:
 * the browser's six connections are for the views); otherwise the person types theirs.
 */
function NamespacePicker({
  namespace,
  onChange,
}: {
  namespace: string;
  onChange: (namespace: string) => void;
}) {
  const [names, setNames] = useState<string[]>([]);
  const [text, setText] = useState(namespace);
  useEffect(() => {
    const abort = new AbortController();
    getJson<{ items: KubeObject[] }>(PATHS.namespaces, abort.signal).then(
      (list) => setNames(list.items.map((item) => item.metadata.name).sort()),
      () => {},
    );
    return () => abort.abort();
  }, []);
  return (
    <form
      class="namespace"
      onSubmit={(event) => {
        event.preventDefault();
        onChange(text.trim());
      }}
    >
      <label>
        Namespace{' '}
        <input
          name="namespace"
          list="namespace-names"
          placeholder="all"
          value={text}
          onInput={(event) => setText(event.currentTarget.value)}
          onChange={(event) => onChange(event.currentTarget.value.trim())}
        />
      </label>
      <datalist id="namespace-names">
        {names.map((name) => (
          <option key={name} value={name} />
        ))}
      </datalist>
    </form>
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
