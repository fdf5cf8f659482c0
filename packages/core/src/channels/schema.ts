/**
 * Typed message kinds: one definition shared by server and client, validated on receive with any
 * validator that implements Standard Schema (zod, valibot, arktype, …). Only the shape of the
 * `~standard` property is used here, so core depends on no validator.
 */

/**
 * The Standard Schema v1 interface, as its specification documents it (standardschema.dev),
 * written out here so that core has no dependency: any validator implementing it fits.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>;
}

export declare namespace StandardSchemaV1 {
  /** The `~standard` property. */
  export interface Props<Input = unknown, Output = Input> {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    readonly types?: Types<Input, Output> | undefined;
  }
  /** Success or failure. */
  export type Result<Output> = SuccessResult<Output> | FailureResult;
  /** The value passed. */
  export interface SuccessResult<Output> {
    readonly value: Output;
    readonly issues?: undefined;
  }
  /** The value failed. */
  export interface FailureResult {
    readonly issues: readonly Issue[];
  }
  /** One problem of the value. */
  export interface Issue {
    readonly message: string;
    readonly path?: readonly (PropertyKey | PathSegment)[] | undefined;
  }
  /** A path segment as an object. */
  export interface PathSegment {
    readonly key: PropertyKey;
  }
  /** Types only, for inference. */
  export interface Types<Input = unknown, Output = Input> {
    readonly input: Input;
    readonly output: Output;
  }
  /** The input type of a schema. */
  export type InferInput<S extends StandardSchemaV1> = NonNullable<
    S['~standard']['types']
  >['input'];
  /** The output type of a schema. */
  export type InferOutput<S extends StandardSchemaV1> = NonNullable<
    S['~standard']['types']
  >['output'];
}

/**
 * One message kind: the schema of its `data`, and for a kind that can be requested, the schema
 * of the reply. Either side may send, publish or request any kind; the receiver validates.
 */
export interface MessageKind<
  D extends StandardSchemaV1 = StandardSchemaV1,
  R extends StandardSchemaV1 | undefined = StandardSchemaV1 | undefined,
> {
  /** Schema of the data. */
  readonly data: D;
  /** Schema of the reply, for a kind that is requested (`request(kind, data)`). */
  readonly reply?: R;
}

/** Every message kind of an application, by name. */
export type MessageDefs = Readonly<Record<string, MessageKind>>;

/** Typed identity: one definition, imported by the server and by the client. */
export function defineMessages<const M extends MessageDefs>(defs: M): M {
  for (const [kind, def] of Object.entries(defs)) {
    if (!isSchema(def?.data) || (def.reply !== undefined && !isSchema(def.reply))) {
      throw new TypeError(`message kind '${kind}': data (and reply) must be Standard Schemas`);
    }
  }
  return defs;
}

function isSchema(value: unknown): value is StandardSchemaV1 {
  const props = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null)?.[
    '~standard'
  ];
  return props?.version === 1 && typeof props.validate === 'function';
}

/** The kinds of `M`, as strings. */
export type KindOf<M extends MessageDefs> = Extract<keyof M, string>;
/** The kinds of `M` that have a reply schema: those that can be requested. */
export type RequestKindOf<M extends MessageDefs> = {
  [K in KindOf<M>]: M[K]['reply'] extends StandardSchemaV1 ? K : never;
}[KindOf<M>];
/** What a sender passes as the data of kind `K`. */
export type DataIn<M extends MessageDefs, K extends KindOf<M>> = StandardSchemaV1.InferInput<
  M[K]['data']
>;
/** What a receiver gets as the data of kind `K`, once validated. */
export type DataOut<M extends MessageDefs, K extends KindOf<M>> = StandardSchemaV1.InferOutput<
  M[K]['data']
>;
/** What a request handler returns for kind `K`. */
export type ReplyIn<
  M extends MessageDefs,
  K extends KindOf<M>,
> = M[K]['reply'] extends StandardSchemaV1 ? StandardSchemaV1.InferInput<M[K]['reply']> : never;
/** What a requester gets for kind `K`, once validated. */
export type ReplyOut<
  M extends MessageDefs,
  K extends KindOf<M>,
> = M[K]['reply'] extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<M[K]['reply']> : never;

/** One received message of any kind of `M`, discriminated on `kind`. */
export type AnyMessage<M extends MessageDefs> = {
  [K in KindOf<M>]: { kind: K; data: DataOut<M, K> };
}[KindOf<M>];

/** A validation problem as it travels in an `error` frame. */
export interface WireIssue {
  /** What is wrong. */
  message: string;
  /** Where, as property keys from the data's root. */
  path?: (string | number)[];
}

/** The outcome of {@link validate}. */
export type Checked<T> = { ok: true; value: T } | { ok: false; issues: WireIssue[] };

/**
 * Runs a Standard Schema on `value`; issues flattened to what an error frame carries. Returns
 * synchronously when the validator does, so that received frames keep their order cheaply.
 */
export function validate<T>(
  schema: StandardSchemaV1,
  value: unknown,
): Checked<T> | Promise<Checked<T>> {
  const result = schema['~standard'].validate(value);
  if (result instanceof Promise) return result.then((r) => checked<T>(r));
  return checked<T>(result);
}

function checked<T>(result: StandardSchemaV1.Result<unknown>): Checked<T> {
  if (result.issues === undefined) return { ok: true, value: result.value as T };
  return { ok: false, issues: result.issues.map(wireIssue) };
}

function wireIssue(issue: StandardSchemaV1.Issue): WireIssue {
  const out: WireIssue = { message: String(issue.message) };
  if (issue.path && issue.path.length > 0) {
    out.path = issue.path.map((segment) => {
      const key = typeof segment === 'object' ? segment.key : segment;
      return typeof key === 'number' ? key : String(key);
    });
  }
  return out;
}
