/** Forwards one buffered HTTP request to another server byte for byte (its answer streamed back). */
import http from 'node:http';

export function forwardRequest(target: URL, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    res.writeHead(502);
    res.end(String(err));
  });
  upstream.end(body);
}
