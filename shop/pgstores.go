package shop

import (
	"context"
	"fmt"
	"time"

	"github.com/faultlab/faultlab/services/order"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/topology"
)

// stores holds the PostgreSQL store of the service being built, at most
// one of them set; a nil store keeps the service on SQLite in DataDir.
type stores struct {
	user    user.Store
	product product.Store
	payment payment.Store
	order   order.Store
}

// pgStores opens name's PostgreSQL store when Options.DatabaseURL is set
// (each service in its own schema of the one database).
func (o Options) pgStores(name string) (stores, error) {
	var st stores
	if o.DatabaseURL == "" {
		return st, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	switch name {
	case topology.User:
		st.user, err = user.OpenPGStore(ctx, o.DatabaseURL)
	case topology.Product:
		st.product, err = product.OpenPGStore(ctx, o.DatabaseURL)
	case topology.Payment:
		st.payment, err = payment.OpenPGStore(ctx, o.DatabaseURL)
	case topology.Order:
		st.order, err = order.OpenPGStore(ctx, o.DatabaseURL)
	}
	if err != nil {
		return stores{}, fmt.Errorf("%s: %w", name, err)
	}
	return st, nil
}
