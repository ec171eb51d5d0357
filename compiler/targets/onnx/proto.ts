// The protobuf wire format, as much of it as an ONNX model needs to be written (no reader): varints,
// length-delimited fields and fixed32 floats, with ONNX's message field numbers (onnx/onnx.proto).

/** Bytes of one protobuf message under construction. */
export class Message {
  private readonly parts: Uint8Array[] = [];

  private push(bytes: Uint8Array | number[]): this {
    this.parts.push(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
    return this;
  }

  private tag(field: number, wire: number): this {
    return this.push(varint(BigInt((field << 3) | wire)));
  }

  /** An int32/int64/enum/bool field (negative values as 64-bit two's complement, 10 bytes). */
  int(field: number, value: number | bigint): this {
    return this.tag(field, 0).push(varint(BigInt.asUintN(64, BigInt(value))));
  }

  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.tag(field, 5).push(b);
  }

  bytes(field: number, value: Uint8Array): this {
    return this.tag(field, 2).push(varint(BigInt(value.length))).push(value);
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: Message): this {
    return this.bytes(field, value.finish());
  }

  finish(): Uint8Array {
    const total = this.parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function varint(v: bigint): number[] {
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

// ONNX enums.
export const ELEM_FLOAT = 1;
export const ELEM_INT64 = 7;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

export type Attribute = { name: string; float: number } | { name: string; int: number } | { name: string; ints: number[] };

/** TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little endian). */
export function tensorProto(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): Message {
  const m = new Message();
  for (const d of dims) m.int(1, d);
  m.int(2, data instanceof Float32Array ? ELEM_FLOAT : ELEM_INT64);
  m.string(8, name);
  const raw = new Uint8Array(data.byteLength);
  const view = new DataView(raw.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return m.bytes(9, raw);
}

/** AttributeProto: name 1, f 2, i 3, ints 8, type 20. */
function attributeProto(a: Attribute): Message {
  const m = new Message().string(1, a.name);
  if ('float' in a) m.float(2, a.float).int(20, ATTR_FLOAT);
  else if ('int' in a) m.int(3, a.int).int(20, ATTR_INT);
  else {
    for (const v of a.ints) m.int(8, v);
    m.int(20, ATTR_INTS);
  }
  return m;
}

/** NodeProto: input 1, output 2, name 3, op_type 4, attribute 5. */
export function nodeProto(op: string, inputs: readonly string[], outputs: readonly string[], name: string, attrs: readonly Attribute[] = []): Message {
  const m = new Message();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  m.string(3, name).string(4, op);
  for (const a of attrs) m.message(5, attributeProto(a));
  return m;
}

/** ValueInfoProto of a float tensor: name 1, type 2 (TypeProto.tensor_type 1: elem_type 1, shape 2 of dims: dim_value 1 or dim_param 2). */
export function valueInfo(name: string, dims: readonly (number | string)[]): Message {
  const shape = new Message();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new Message().int(1, d) : new Message().string(2, d));
  const tensorType = new Message().int(1, ELEM_FLOAT).message(2, shape);
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

/** ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6, graph 7, opset_import 8. */
export function modelProto(o: { irVersion: number; opset: number; producer: string; version: string; doc: string; graph: Message }): Uint8Array {
  return new Message()
    .int(1, o.irVersion)
    .string(2, o.producer)
    .string(3, o.version)
    .string(6, o.doc)
    .message(7, o.graph)
    .message(8, new Message().string(1, '').int(2, o.opset))
    .finish();
}
