/**
 * Sets of field paths (what a manager owns) and their `FieldsV1` encoding.
 *
 * Like structured-merge-diff's fieldpath.Set, a set is a tree: at each level some elements are
 * members (the path itself is in the set: a leaf, an atomic value, a list item, a map entry)
 * and some have children (paths below it are in the set). An element may be both; FieldsV1
 * then writes `".": {}` beside its children. A child set is never empty.
 */
import { InvalidManagedFieldsError } from './errors.ts';
import { canonicalElement, compareElements, type FieldPath, type PathElementText } from './path.ts';

/** The JSON document of `managedFields[].fieldsV1`: `{"f:spec":{"f:replicas":{}}}`. */
export interface FieldsV1 {
  [element: string]: FieldsV1;
}

/**
 * A set of field paths. Operations return new sets and never share structure with their
 * inputs; `insert` is the only mutation and is meant for building a set.
 */
export class FieldSet {
  readonly #members = new Set<PathElementText>();
  readonly #children = new Map<PathElementText, FieldSet>();

  /** A set holding exactly these paths (the empty path is ignored: the root is never owned). */
  static of(...paths: FieldPath[]): FieldSet {
    const set = new FieldSet();
    for (const p of paths) set.insert(p);
    return set;
  }

  /**
   * Decodes a FieldsV1 document, canonicalising every element.
   * @throws InvalidManagedFieldsError when the document is not FieldsV1.
   */
  static fromFieldsV1(doc: unknown): FieldSet {
    if (!isDocument(doc)) throw new InvalidManagedFieldsError('fieldsV1 must be a JSON object');
    const set = new FieldSet();
    for (const [text, inner] of Object.entries(doc)) {
      if (text === '.') continue; // handled by the parent
      if (!isDocument(inner)) {
        throw new InvalidManagedFieldsError(`fieldsV1 entry ${JSON.stringify(text)} must be a JSON object`);
      }
      const el = canonicalElement(text);
      const keys = Object.keys(inner);
      if (keys.length === 0 || '.' in inner) set.#members.add(el);
      if (keys.some((k) => k !== '.')) {
        const child = FieldSet.fromFieldsV1(inner);
        const existing = set.#children.get(el);
        set.#children.set(el, existing ? existing.union(child) : child);
      }
    }
    return set;
  }

  /** Adds `path` as a member, creating the levels above it. The empty path is ignored. */
  insert(path: FieldPath): void {
    const [head, ...rest] = path;
    if (head === undefined) return;
    if (rest.length === 0) {
      this.#members.add(head);
      return;
    }
    let child = this.#children.get(head);
    if (!child) {
      child = new FieldSet();
      this.#children.set(head, child);
    }
    child.insert(rest);
  }

  /** Whether `path` itself is a member (not merely a prefix of members). */
  has(path: FieldPath): boolean {
    const [head, ...rest] = path;
    if (head === undefined) return false;
    if (rest.length === 0) return this.#members.has(head);
    return this.#children.get(head)?.has(rest) ?? false;
  }

  /** Whether the element `el` at this level is a member. */
  hasMember(el: PathElementText): boolean {
    return this.#members.has(el);
  }

  /** The (non-empty) set of paths below element `el`, relative to it. */
  child(el: PathElementText): FieldSet | undefined {
    return this.#children.get(el);
  }

  /** Whether `el` is a member or has members below it. */
  touches(el: PathElementText): boolean {
    return this.#members.has(el) || this.#children.has(el);
  }

  isEmpty(): boolean {
    return this.#members.size === 0 && this.#children.size === 0;
  }

  /** Paths in either set. */
  union(other: FieldSet): FieldSet {
    const out = this.#copy();
    for (const m of other.#members) out.#members.add(m);
    for (const [el, c] of other.#children) {
      const mine = out.#children.get(el);
      out.#children.set(el, mine ? mine.union(c) : c.#copy());
    }
    return out;
  }

  /** Paths of this set that are not members of `other` (members only: children of removed paths stay). */
  difference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.#members) if (!other.#members.has(m)) out.#members.add(m);
    for (const [el, c] of this.#children) {
      const theirs = other.#children.get(el);
      const rest = theirs ? c.difference(theirs) : c.#copy();
      if (!rest.isEmpty()) out.#children.set(el, rest);
    }
    return out;
  }

  /** Paths of this set that are neither members of `other` nor below one of its members. */
  recursiveDifference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.#members) if (!other.#members.has(m)) out.#members.add(m);
    for (const [el, c] of this.#children) {
      if (other.#members.has(el)) continue;
      const theirs = other.#children.get(el);
      const rest = theirs ? c.recursiveDifference(theirs) : c.#copy();
      if (!rest.isEmpty()) out.#children.set(el, rest);
    }
    return out;
  }

  /** Paths in both sets. */
  intersection(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.#members) if (other.#members.has(m)) out.#members.add(m);
    for (const [el, c] of this.#children) {
      const theirs = other.#children.get(el);
      if (!theirs) continue;
      const both = c.intersection(theirs);
      if (!both.isEmpty()) out.#children.set(el, both);
    }
    return out;
  }

  /** Paths of this set equal to, or below, a member of `prefixes`. */
  within(prefixes: FieldSet): FieldSet {
    return this.difference(this.recursiveDifference(prefixes));
  }

  /** Whether every path of `other` is in this set. */
  covers(other: FieldSet): boolean {
    for (const m of other.#members) if (!this.#members.has(m)) return false;
    for (const [el, c] of other.#children) {
      const mine = this.#children.get(el);
      if (!mine?.covers(c)) return false;
    }
    return true;
  }

  /** Whether this set and `other` have a path in common. */
  intersects(other: FieldSet): boolean {
    const [small, large] = this.#members.size <= other.#members.size ? [this, other] : [other, this];
    for (const m of small.#members) if (large.#members.has(m)) return true;
    for (const [el, c] of this.#children) {
      const theirs = other.#children.get(el);
      if (theirs?.intersects(c)) return true;
    }
    return false;
  }

  equals(other: FieldSet): boolean {
    if (this.#members.size !== other.#members.size || this.#children.size !== other.#children.size)
      return false;
    for (const m of this.#members) if (!other.#members.has(m)) return false;
    for (const [el, c] of this.#children) {
      const theirs = other.#children.get(el);
      if (!theirs || !c.equals(theirs)) return false;
    }
    return true;
  }

  /** Every member path: the members of a level first, then those below it, each in FieldsV1 order. */
  paths(): FieldPath[] {
    const out: FieldPath[] = [];
    for (const m of [...this.#members].sort(compareElements)) out.push([m]);
    for (const el of [...this.#children.keys()].sort(compareElements)) {
      for (const p of this.#children.get(el)?.paths() ?? []) out.push([el, ...p]);
    }
    return out;
  }

  /** The FieldsV1 document, elements in the apiserver's order, `"."` for members that also have children. */
  toFieldsV1(): FieldsV1 {
    const out: FieldsV1 = {};
    const elements = new Set([...this.#members, ...this.#children.keys()]);
    for (const el of [...elements].sort(compareElements)) {
      const child = this.#children.get(el);
      if (!child) out[el] = {};
      else out[el] = this.#members.has(el) ? { '.': {}, ...child.toFieldsV1() } : child.toFieldsV1();
    }
    return out;
  }

  #copy(): FieldSet {
    const out = new FieldSet();
    for (const m of this.#members) out.#members.add(m);
    for (const [el, c] of this.#children) out.#children.set(el, c.#copy());
    return out;
  }
}

function isDocument(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
