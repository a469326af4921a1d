/**
 * The champion lookup: which registered version holds the `champion` alias now. Kept out of
 * lib/gate.ts, which the workflows import and which must stay free of I/O.
 */
import type { ChampionRef } from './steps';
import { GATE_ALIASES } from './gate';
import { MlflowClient } from './mlflow';

/** The version holding the `champion` alias now, pinned as `models:/<name>/<version>`; null if none. */
export async function currentChampion(trackingUri: string, modelName: string): Promise<ChampionRef | null> {
  const version = await new MlflowClient(trackingUri).aliasVersion(modelName, GATE_ALIASES.champion);
  return version === null ? null : { version, modelUri: `models:/${modelName}/${version}` };
}
