export * from './zxid.js';
export * from './paths.js';
export * from './errors.js';
export * from './stat.js';
export * from './messages.js';
export * from './codec.js';
export * from './validate.js';
export * from './crc32c.js';
