// A test upstream on the JDK's built-in HttpServer: echoes the context it routed to, the request URI and the Finora-* headers.

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

public final class EchoUpstream {
  private static String json(String text) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20 || c > 0x7e) out.append(String.format("\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append('"').toString();
  }

  private static void echo(HttpExchange exchange) throws java.io.IOException {
    exchange.getRequestBody().readAllBytes();
    StringBuilder body = new StringBuilder("{\"context\":").append(json(exchange.getHttpContext().getPath()));
    body.append(",\"uri\":").append(json(exchange.getRequestURI().toString()));
    body.append(",\"path\":").append(json(String.valueOf(exchange.getRequestURI().getPath())));
    body.append(",\"headers\":{");
    boolean first = true;
    for (Map.Entry<String, List<String>> header : exchange.getRequestHeaders().entrySet()) {
      if (!header.getKey().toLowerCase().startsWith("finora")) continue;
      if (!first) body.append(',');
      first = false;
      body.append(json(header.getKey().toLowerCase())).append(':').append(json(String.join(",", header.getValue())));
    }
    byte[] bytes = body.append("}}").toString().getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", "application/json");
    exchange.sendResponseHeaders(200, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  public static void main(String[] args) throws Exception {
    HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    for (String context : new String[] {"/v1/payments", "/v1/invoices", "/"}) server.createContext(context, EchoUpstream::echo);
    server.start();
    // The test reads the port from this line.
    System.out.println("listening " + server.getAddress().getPort());
    System.out.flush();
  }
}
