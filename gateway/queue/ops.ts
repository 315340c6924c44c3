// The writes the commit loop carries to the store: one explicit kind per queue call, each with what it
// carries in and the type it resolves with once its commit is durable (and the shapes those name).
import type { IngestResult, SourceState } from '../components.js';
import type { SluiceError } from '../errors.js';
import type { CursorStats } from '../status.js';

/** Where a cursor created for the first time starts: only new readings, or everything still retained. */
export type CursorStart = 'tail' | 'oldest';

export interface DeadLetterInput {
  readonly seq: number;
  readonly code: string;
  readonly message: string;
}

export type { CursorStats };

/** The caller waiting for an op: resolved only once the op's commit is flushed, rejected if it fails. */
interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (err: unknown) => void;
}

export type AppendOp = Waiter<IngestResult> & {
  readonly kind: 'append';
  /** The encoded entries (see codec.ts), in order. */
  readonly entries: readonly Buffer[];
  readonly bytes: number;
  /** A source's state, put in the same transaction as the entries (see `AppendOptions.sourceState`). */
  readonly sourceState?: SourceState;
};
export type AckOp = Waiter<void> & {
  readonly kind: 'ack';
  readonly cursor: string;
  readonly upToSeq: number;
  readonly deadLetters: readonly DeadLetterInput[];
};
export type OpenCursorOp = Waiter<CursorStats> & {
  readonly kind: 'open-cursor';
  readonly cursor: string;
  readonly start: CursorStart;
};
type RemoveCursorOp = Waiter<boolean> & { readonly kind: 'remove-cursor'; readonly cursor: string };

export type Op = AppendOp | AckOp | OpenCursorOp | RemoveCursorOp;

/**
 * What an op came to inside its round: done (`resolve` hands the caller its value once the round is durable),
 * or refused on its own, before it wrote anything (queue full, bad ack).
 */
export type Outcome =
  { readonly ok: true; readonly resolve: () => void } | { readonly ok: false; readonly error: SluiceError };
