// Go's standard library alone, for GET /health only: the floor under Gin.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
)

type health struct {
	Status string `json:"status"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(health{Status: "healthy"})
	})
	log.Printf("net/http peer listening on http://%s", *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
