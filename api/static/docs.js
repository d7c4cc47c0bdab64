// Starts Swagger UI on /v1/docs (api/routes/docs.py): a file, not an inline script, so the
// CSP that forbids inline script holds on the docs page as on the web page. No validator
// badge (it would call an outside server) and no deep links into other origins.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
