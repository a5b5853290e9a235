package inbox

import (
	_ "embed"
	"net/http"
)

// openAPIDoc describes /api/v1 (OpenAPI 3.1). A test checks it against the
// gateway's real route table, both ways.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI is the API's description, for tests.
func OpenAPI() []byte { return openAPIDoc }

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}
