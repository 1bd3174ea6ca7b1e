/** Login: user name and password in, signed ticket (JSON and cookie) and CSRF token out. */
import { z } from "zod";
import { login } from "../auth/login.ts";
import { TICKET_COOKIE, TICKET_LIFETIME_SEC } from "../auth/ticket.ts";
import { route, routeGroup } from "../route.ts";
import { passwordSchema } from "../schemas.ts";

export default routeGroup("ticket", [
  route({
    method: "POST",
    path: "/access/ticket",
    summary: "log in with user name and password; returns a ticket and a CSRF token",
    access: "public",
    body: z.strictObject({ username: z.string().max(200), password: passwordSchema }),
    // login() audits every attempt itself, including the refused ones.
    audit: false,
    handler: async ({ body, deps, source, c }) => {
      const r = await login(deps, body.username, body.password, source);
      c.header("Set-Cookie", `${TICKET_COOKIE}=${encodeURIComponent(r.ticket)}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${TICKET_LIFETIME_SEC}`);
      return r;
    },
  }),
]);
