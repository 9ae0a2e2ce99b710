/** The dashboard's shell: header, navigation and the view the hash names. */
export function App() {
  return <h1>Outpost</h1>;
}
