// Types for the parts of the `tftp` npm package (0.1.x, plain JS) that kiln uses.
declare module 'tftp' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:dgram';
  import type { Readable, Writable } from 'node:stream';

  export interface TransferStats {
    blockSize: number;
    windowSize: number;
    size: number | null;
    userExtensions: Record<string, string>;
    retries: number;
    timeout: number;
    localAddress: string;
    localPort: number;
    remoteAddress: string;
    remotePort: number;
  }

  /** The request side of a server transfer (events: abort, close, error). */
  export interface GetStream extends Readable {
    method: 'GET' | 'PUT';
    file: string;
    stats: TransferStats;
    abort(error?: string | Error): void;
    close(): void;
  }

  export interface PutStream extends Writable {
    setSize(size: number): void;
  }

  export interface ServerOptions {
    host?: string;
    port?: number;
    root?: string;
    denyGET?: boolean;
    denyPUT?: boolean;
    blockSize?: number;
    windowSize?: number;
    retries?: number;
    timeout?: number;
  }

  export interface Server extends EventEmitter {
    host: string;
    port: number;
    /** The library's listening socket; kiln reads it to count requests the library refuses itself. */
    _socket: Socket;
    listen(): void;
    close(): void;
  }

  const tftp: {
    createServer(options: ServerOptions, listener: (req: GetStream, res: PutStream) => void): Server;
  };
  export default tftp;
}
