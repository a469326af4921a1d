/**
 * The failure converter of the payload codec (lib/payload-codec.ts): a failure's message and
 * stack trace travel in its `encodedAttributes` payload, which the codec encrypts, so a failure
 * naming a path or a value leaves it in the history as "Encoded failure". The SDK loads it by
 * path (`failureConverterPath`) in the workflow sandbox too, so it imports only @temporalio/common.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
