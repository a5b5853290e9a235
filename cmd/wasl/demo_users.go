//go:build demo

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/store"
)

// demoUser is a staff account the demo signs in with.
type demoUser struct {
	store.User
	password string
}

// demoUsers makes the demo's operator and agent (or gives them new
// passwords when an earlier run made them): the operator reads Arabic and
// sees everything; the agent works the Maintenance Center in English.
func demoUsers(ctx context.Context, st *store.Store) ([]demoUser, error) {
	users := []demoUser{
		{User: store.User{Email: "operator@demo.wasl.test", Name: "مشرفة خدمة العملاء", Role: store.RoleOperator, Language: "ar",
			Departments: []string{"customer_service"}}},
		{User: store.User{Email: "agent@demo.wasl.test", Name: "Maintenance agent", Role: store.RoleAgent, Language: "en",
			Departments: []string{"maintenance_center"}}},
	}
	for i := range users {
		u := &users[i]
		u.password = inbox.GeneratePassword()
		hash, err := inbox.HashPassword(u.password)
		if err != nil {
			return nil, err
		}
		old, err := st.UserByEmail(ctx, u.Email)
		switch {
		case errors.Is(err, store.ErrNotFound):
			u.Active, u.PasswordHash = true, hash
			if err := st.CreateUser(ctx, &u.User); err != nil {
				return nil, fmt.Errorf("demo user %s: %w", u.Email, err)
			}
		case err != nil:
			return nil, err
		default:
			if err := st.SetUserPassword(ctx, old.ID, hash); err != nil {
				return nil, err
			}
			if err := st.SetUserActive(ctx, old.ID, true); err != nil {
				return nil, err
			}
		}
	}
	return users, nil
}

// staffLines says where to sign in and with what.
func staffLines(base string, users []demoUser) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  The inbox:      %s/ — sign in as\n", base)
	for _, u := range users {
		fmt.Fprintf(&b, "                  %-25s password %s  (%s)\n", u.Email, u.password, u.Role)
	}
	return b.String()
}
