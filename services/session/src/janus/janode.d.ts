// janode (ESM, loaded with require() on Node 24) ships no types: the part of its API this service uses.
declare module 'janode' {
  interface JanodeEmitter {
    once(event: string, listener: (...args: unknown[]) => void): void;
  }
  interface JanodeSession extends JanodeEmitter {
    attach(plugin: unknown): Promise<unknown>;
  }
  interface JanodeConnection extends JanodeEmitter {
    create(): Promise<JanodeSession>;
    close(): Promise<void>;
  }
  const Janode: {
    connect(config: {
      address: { url: string; token?: string };
      retry_time_secs?: number;
      max_retries?: number;
    }): Promise<JanodeConnection>;
    readonly EVENT: Readonly<Record<string, string>>;
    readonly Logger: Record<string, unknown>;
  };
  export default Janode;
}

declare module 'janode/plugins/videoroom' {
  const VideoRoomPlugin: unknown;
  export default VideoRoomPlugin;
}
