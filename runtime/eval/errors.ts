// An error in what the user asked an evaluation or conversion for (data that does not fit the model,
// a --data value that does not parse): the message says what to do, and the command line prints it
// as is and exits with 1.
export class EvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalError';
  }
}
