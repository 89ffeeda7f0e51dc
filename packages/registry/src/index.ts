export type {
  InstanceInput,
  InstanceUpdate,
  Metadata,
  RegisterOptions,
  ServiceCacheOptions,
  ServiceInstance,
  ServiceRegistryOptions,
  WaitOptions,
} from './types.js';
export { ServiceRegistry, Registration, discover, type ServiceRegistryEvents } from './registry.js';
export { ServiceCache, type ServiceCacheEvents } from './cache.js';
export {
  Provider,
  randomStrategy,
  roundRobinStrategy,
  stickyStrategy,
  type DownInstancePolicy,
  type InstanceSource,
  type ProviderOptions,
  type ProviderStrategy,
} from './provider.js';
