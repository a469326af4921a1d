/**
 * Inputs and results of the pipeline's steps, one file per step (each names the module that reads
 * its spec and writes its result). Importers use this folder, not the files.
 */
export { BaselineName, Baselines, ChampionRef, ChampionScore, RougeScores, StepInput } from './common';
export * from './clean';
export * from './evaluate';
export * from './preflight';
export * from './register';
export * from './report';
export * from './summarize';
export * from './train';
export * from './step-cache';
