// Command server answers HTTP requests with a greeting. The port comes from -port or $PORT (default 8080).
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"example.com/monorepo/internal/buildinfo"
	"example.com/monorepo/internal/greeting"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	flag.StringVar(&port, "port", port, "port to listen on")
	flag.Parse()

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, greeting.For(r.URL.Query().Get("name")))
	})
	http.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, buildinfo.Version)
	})
	// Static files from the image's data layer (ko's kodata), if present.
	if dir := os.Getenv("KO_DATA_PATH"); dir != "" {
		http.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(filepath.Clean(dir)))))
	}
	log.Printf("listening on 127.0.0.1:%s", port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, nil))
}
