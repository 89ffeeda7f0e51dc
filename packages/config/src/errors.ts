/** Node data that the codec could not decode or that `validate` rejected. The last good value is kept. */
export class ConfigValidationError extends Error {
  override name = 'ConfigValidationError';
  readonly code = 'InvalidConfig' as const;
  readonly retryable = false;
  constructor(
    message: string,
    /** The config node. */
    readonly path: string,
    /** Data version of the rejected value. */
    readonly version: number,
    /** The raw node data that was rejected. */
    readonly data: Uint8Array | null,
    cause: unknown,
  ) {
    super(message, { cause });
  }
}
