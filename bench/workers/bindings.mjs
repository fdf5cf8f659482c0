// The Durable Object classes of the bench Worker, by the first segment of a request's path
// (the binding of each has the class's name). Shared by the Worker and the process that starts it.
export const BINDINGS = {
  'anyws-echo': 'AnywsEcho',
  'anyws-bcast': 'AnywsBcast',
  'raw-echo': 'RawEcho',
  'raw-bcast': 'RawBcast',
  'twin-echo': 'TwinEcho',
  'twin-bcast': 'TwinBcast',
};
