// An error in what the user asked for (a run that does not exist, a checkpoint that does not fit, a
// micro-batch that cannot fit in memory): the message says what is wrong and how to fix it, and the
// command line prints it as is and exits with 1. Anything else escaping the trainer is a bug.
export class TrainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainError';
  }
}
