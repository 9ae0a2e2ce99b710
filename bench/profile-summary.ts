/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with
 * the most self time, the most total (inclusive) time, and self time by file.
 *
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP=25]
 */
import { readFileSync } from 'node:fs';
import { fmt, table } from './support/index.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly hitCount?: number;
  readonly children?: number[];
}

interface Profile {
  readonly nodes: ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [TOP]');
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const microsPerSample = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\/.*?\/node_modules\//, '')
    .replace(/^file:\/\/.*?\/(src|bench|test)\//, '$1/')
    .replace(/^node:/, 'node:');
const label = (node: ProfileNode) => {
  const frame = node.callFrame;
  const name = frame.functionName || '(anonymous)';
  return frame.url ? `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : name;
};
const fileOf = (node: ProfileNode) => {
  const url = node.callFrame.url;
  if (!url) return node.callFrame.functionName || '(native)';
  const short = shortUrl(url);
  // Group dependencies by package, our code by file.
  const pkg = /^(@[^/]+\/[^/]+|[^/]+)\//.exec(short);
  return short.startsWith('src/') || short.startsWith('node:') || !pkg ? short : pkg[1]!;
};

const self = new Map<string, number>();
const total = new Map<string, number>();
const byFile = new Map<string, number>();
const hits = new Map<number, number>();
for (const sample of profile.samples) hits.set(sample, (hits.get(sample) ?? 0) + 1);
let allSamples = 0;
for (const [id, count] of hits) {
  const node = byId.get(id)!;
  allSamples += count;
  self.set(label(node), (self.get(label(node)) ?? 0) + count);
  byFile.set(fileOf(node), (byFile.get(fileOf(node)) ?? 0) + count);
  // Count each function once per sample however often it recurses.
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const name = label(byId.get(at)!);
    if (seen.has(name)) continue;
    seen.add(name);
    total.set(name, (total.get(name) ?? 0) + count);
  }
}

const rows = (map: Map<string, number>) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, count]) => [
      name,
      fmt((count * microsPerSample) / 1000),
      fmt((100 * count) / allSamples, 1),
    ]);
console.log(`${file}: ${fmt((allSamples * microsPerSample) / 1e6, 1)} s sampled\n`);
console.log('self time by function');
console.log(table(['function', 'ms', '%'], rows(self)));
console.log('\nself time by file or package');
console.log(table(['file', 'ms', '%'], rows(byFile)));
console.log('\ntotal (inclusive) time by function');
console.log(table(['function', 'ms', '%'], rows(total)));
