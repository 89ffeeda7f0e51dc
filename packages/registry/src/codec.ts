import { joinPath } from '@zabkit/protocol';
import type { Metadata, ServiceInstance } from './types.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** @internal */
export function encodeInstance(instance: ServiceInstance): string {
  return JSON.stringify(instance);
}

/** The instance stored in node data, or undefined when the data is not a valid instance. @internal */
export function decodeInstance<M extends Metadata>(data: Uint8Array | null): ServiceInstance<M> | undefined {
  if (data === null || data.length === 0) return undefined;
  try {
    const v = JSON.parse(decoder.decode(data)) as Partial<ServiceInstance<M>>;
    if (typeof v !== 'object' || v === null) return undefined;
    if (typeof v.name !== 'string' || typeof v.id !== 'string' || typeof v.address !== 'string' || typeof v.port !== 'number') return undefined;
    return { name: v.name, id: v.id, address: v.address, port: v.port, metadata: (v.metadata ?? {}) as M, registeredAt: v.registeredAt ?? 0 };
  } catch {
    return undefined;
  }
}

/** `<basePath>/<name>` @internal */
export function servicePath(basePath: string, name: string): string {
  checkSegment('name', name);
  return joinPath(basePath, name);
}

/** `<basePath>/<name>/<id>` @internal */
export function instancePath(basePath: string, name: string, id: string): string {
  checkSegment('id', id);
  return joinPath(servicePath(basePath, name), id);
}

function checkSegment(what: string, s: string): void {
  if (typeof s !== 'string' || s.length === 0 || s.includes('/') || s === '.' || s === '..') {
    throw new TypeError(`service ${what} must be a non-empty path segment without '/', got ${JSON.stringify(s)}`);
  }
}

/** Deep-enough equality of two instances (JSON form). @internal */
export function sameInstance(a: ServiceInstance, b: ServiceInstance): boolean {
  return encodeInstance(a) === encodeInstance(b);
}
