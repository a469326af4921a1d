/**
 * What the SDK hands back undecoded, decoded with the client's payload codecs: a workflow's
 * history (`fetchHistory`) and its description's raw parts (pending activities' heartbeats and
 * last failures). Without a codec nothing changes; with lib/payload-codec.ts these are
 * encrypted until decoded here. Uses the SDK's generated payload visitor, which knows every
 * payload field of each message (the SDK is pinned, and the visitor with it).
 */
import type { WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import type { Payload, PayloadCodec, ProtoFailure } from '@temporalio/common';
import {
  decode,
  visit,
  walkDescribeWorkflowExecutionResponse,
  walkGetWorkflowExecutionHistoryResponse,
} from '@temporalio/common/lib/internal-non-workflow';

export type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

async function decodeInPlace<Root>(
  root: Root,
  walk: Parameters<typeof visit<Root>>[1],
  codecs: PayloadCodec[],
): Promise<void> {
  if (codecs.length === 0) return;
  await visit(root, walk, {
    transformPayload: async (payload: Payload) => (await decode(codecs, [payload]))[0],
    transformPayloads: (payloads: Payload[]) => decode(codecs, payloads),
    // Search attributes are never encoded: the server indexes them.
    skipSearchAttributes: true,
  });
}

/** Every payload of `history` decoded, in place (failures' encoded messages included, as payloads). */
export async function decodeHistory(history: History, codecs: PayloadCodec[]): Promise<History> {
  await decodeInPlace({ history }, walkGetWorkflowExecutionHistoryResponse, codecs);
  return history;
}

/** The workflow's history, decoded with its client's codecs. */
export async function fetchDecodedHistory(handle: WorkflowHandle): Promise<History> {
  return decodeHistory(await handle.fetchHistory(), handle.client.options.loadedDataConverter.payloadCodecs);
}

/**
 * The workflow's description with its raw pending activities decoded: heartbeat details, and
 * each last failure's message and stack trace put back from its encoded attributes.
 */
export async function describeDecoded(handle: WorkflowHandle): Promise<WorkflowExecutionDescription> {
  const description = await handle.describe();
  const converter = handle.client.options.loadedDataConverter;
  await decodeInPlace(description.raw, walkDescribeWorkflowExecutionResponse, converter.payloadCodecs);
  for (const pending of description.raw.pendingActivities ?? []) {
    for (let failure = pending.lastFailure as ProtoFailure | null | undefined; failure; failure = failure.cause) {
      if (!failure.encodedAttributes) continue;
      const attributes = converter.payloadConverter.fromPayload<{ message?: unknown; stack_trace?: unknown }>(failure.encodedAttributes);
      if (typeof attributes?.message === 'string') failure.message = attributes.message;
      if (typeof attributes?.stack_trace === 'string') failure.stackTrace = attributes.stack_trace;
    }
  }
  return description;
}
