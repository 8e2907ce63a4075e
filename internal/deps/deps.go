package deps

import (
	_ "github.com/Shopify/toxiproxy/v2"
	_ "github.com/Shopify/toxiproxy/v2/client"
	_ "github.com/cenkalti/backoff/v4"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/hashicorp/go-retryablehttp"
	_ "github.com/julienschmidt/httprouter"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/rs/zerolog"
	_ "github.com/sony/gobreaker/v2"
	_ "github.com/testcontainers/testcontainers-go"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/sync/singleflight"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
