// The Trino server's entry point. Maven Central publishes the server classes (io.trino:trino-main)
// but no launcher; this is the whole of one.
public final class TrinoServer {
  public static void main(String[] args) {
    new io.trino.server.Server().start(args.length > 0 ? args[0] : "483");
  }
}
