import type { KindDefinition, KubeObject, PrinterColumn } from '../../../api/index.ts';

/** What a Table row carries of its object (`includeObject`). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/** A `meta.k8s.io/v1` Table, as `kubectl get` asks for it. */
export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string };
  columnDefinitions: TableColumn[];
  rows: Array<{ cells: unknown[]; object?: unknown }>;
}

const NAME_COLUMN: TableColumn = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
};

/** Converts objects to a Table with the kind's printer columns. */
export function toTable(
  def: KindDefinition,
  objects: readonly KubeObject[],
  options: { includeObject?: IncludeObject; resourceVersion?: string; continue?: string; now?: Date },
): Table {
  const now = options.now ?? new Date();
  const include = options.includeObject ?? 'Metadata';
  const metadata: Table['metadata'] = {};
  if (options.resourceVersion) metadata.resourceVersion = options.resourceVersion;
  if (options.continue) metadata.continue = options.continue;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: [NAME_COLUMN, ...def.printerColumns.map(columnDefinition)],
    rows: objects.map((object) => {
      const row: Table['rows'][number] = {
        cells: [object.metadata.name, ...def.printerColumns.map((column) => cellOf(column, object, now))],
      };
      if (include === 'Object') row.object = object;
      if (include === 'Metadata') {
        row.object = {
          kind: 'PartialObjectMetadata',
          apiVersion: 'meta.k8s.io/v1',
          metadata: object.metadata,
        };
      }
      return row;
    }),
  };
}

function columnDefinition(column: PrinterColumn): TableColumn {
  return {
    name: column.name,
    type: column.type === 'date' ? 'string' : column.type,
    format: column.format ?? (column.type === 'date' ? 'date' : ''),
    description: column.description,
    priority: column.priority ?? 0,
  };
}

function cellOf(column: PrinterColumn, object: KubeObject, now: Date): unknown {
  const value = column.cell(object);
  if (value === undefined || value === '') return column.type === 'date' ? '<unknown>' : '<none>';
  if (column.type === 'date' && typeof value === 'string') {
    const at = Date.parse(value);
    return Number.isNaN(at) ? '<unknown>' : humanDuration(now.getTime() - at);
  }
  return value;
}

/** Kubernetes' `HumanDuration`: `45s`, `5m10s`, `3h`, `2d5h`, `400d`. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(seconds / 3600);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}
