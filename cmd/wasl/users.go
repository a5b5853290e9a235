package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// cmdUser manages staff accounts: add, passwd, disable, enable, token.
func cmdUser(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	const use = "usage: wasl user add|passwd|disable|enable|token --config FILE --email E [options]"
	if len(args) == 0 {
		return usageErr(use)
	}
	sub := args[0]
	fs := newFlags("user " + sub)
	path := fs.String("config", "", "config file")
	email := fs.String("email", "", "the user's email address")
	name := fs.String("name", "", "display name (add)")
	role := fs.String("role", store.RoleAgent, "agent or operator (add)")
	lang := fs.String("language", "ar", "ar or en (add)")
	tz := fs.String("time-zone", "", "IANA time zone (add; default: the bank's)")
	tokenName := fs.String("token-name", "cli", "a name for the token (token)")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	var deps stringList
	fs.Var(&deps, "department", "a department id from the bank (add; repeatable)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return usageErr("%s: --email is required", use)
	}
	cfg, err := loadConfig(configPath(*path))
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	password := func() (pw string, generated bool, err error) {
		if !*stdin {
			return inbox.GeneratePassword(), true, nil
		}
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, fmt.Errorf("read password: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), false, nil
	}
	switch sub {
	case "add":
		if *name == "" {
			return usageErr("wasl user add: --name is required")
		}
		if !store.ValidRole(*role) {
			return usageErr("wasl user add: --role %q: want agent or operator", *role)
		}
		bank, err := replies.LoadBank(cfg.Resolve(cfg.KnowledgeBank))
		if err != nil {
			return err
		}
		for _, d := range deps {
			if _, ok := bank.Department(d); !ok {
				var known []string
				for _, kd := range bank.Departments() {
					known = append(known, kd.ID)
				}
				return usageErr("wasl user add: --department %q is not in the bank (known: %s)", d, strings.Join(known, ", "))
			}
		}
		pw, generated, err := password()
		if err != nil {
			return err
		}
		hash, err := inbox.HashPassword(pw)
		if err != nil {
			return usageErr("wasl user add: %v", err)
		}
		u := store.User{Email: *email, Name: *name, Role: *role, Departments: deps, Language: *lang, TimeZone: *tz, Active: true, PasswordHash: hash}
		if err := st.CreateUser(ctx, &u); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return usageErr("wasl user add: a user with email %s exists (wasl user passwd changes the password)", u.Email)
			}
			return usageErr("wasl user add: %v", err)
		}
		fmt.Fprintf(stdout, "user %d %s (%s) added\n", u.ID, u.Email, u.Role)
		if generated {
			fmt.Fprintf(stdout, "password: %s\n", pw)
		}
	case "passwd":
		u, err := userByEmail(ctx, st, *email)
		if err != nil {
			return err
		}
		pw, generated, err := password()
		if err != nil {
			return err
		}
		hash, err := inbox.HashPassword(pw)
		if err != nil {
			return usageErr("wasl user passwd: %v", err)
		}
		if err := st.SetUserPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; its sessions were signed out\n", u.Email)
		if generated {
			fmt.Fprintf(stdout, "password: %s\n", pw)
		}
	case "disable", "enable":
		u, err := userByEmail(ctx, st, *email)
		if err != nil {
			return err
		}
		if err := st.SetUserActive(ctx, u.ID, sub == "enable"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %sd\n", u.Email, sub)
	case "token":
		u, err := userByEmail(ctx, st, *email)
		if err != nil {
			return err
		}
		auth, err := inbox.NewAuth(st, inbox.AuthConfig{}, log)
		if err != nil {
			return err
		}
		tok, _, err := auth.NewAPIToken(ctx, u.ID, *tokenName)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "personal API token for %s (shown once; only its hash is kept):\n%s\n", u.Email, tok)
	default:
		return usageErr(use)
	}
	return nil
}

func userByEmail(ctx context.Context, st *store.Store, email string) (store.User, error) {
	u, err := st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, usageErr("no user with email %s", email)
	}
	return u, err
}
