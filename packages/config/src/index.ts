export { jsonCodec, stringCodec, type Codec } from './codec.js';
export { ConfigValidationError } from './errors.js';
export type { ConfigWatcherOptions, PublishOptions, WaitOptions } from './options.js';
export { ConfigWatcher, type ConfigChange, type ConfigWatcherEvents } from './watcher.js';
export { ConfigDirectoryWatcher, type ConfigDirectoryEvents } from './directory.js';
export { ConfigPublisher, publish, type PublishWithCodecOptions } from './publish.js';
export { BadVersionError } from '@zabkit/client';
