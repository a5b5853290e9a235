package inbox

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/wasl-dev/wasl/store"
)

// UserChange is what the users page sets on an account.
type UserChange struct {
	Email, Name, Role, Language string
	Departments                 []string
}

func (o *Operator) checkUser(c *UserChange) error {
	c.Email, c.Name = strings.ToLower(strings.TrimSpace(c.Email)), strings.TrimSpace(c.Name)
	if _, err := mail.ParseAddress(c.Email); err != nil || c.Email == "" {
		return invalid("%q is not an email address", c.Email)
	}
	if c.Name == "" {
		return invalid("a name is required")
	}
	if !store.ValidRole(c.Role) {
		return invalid("role %q: want agent or operator", c.Role)
	}
	if c.Language != "en" {
		c.Language = "ar"
	}
	if b := o.svc.Bank(); b != nil {
		for _, d := range c.Departments {
			if _, ok := b.Department(d); !ok {
				return invalid("unknown department %q", d)
			}
		}
	}
	slices.Sort(c.Departments)
	c.Departments = slices.Compact(c.Departments)
	return nil
}

// Users lists every account, disabled ones too.
func (o *Operator) Users(ctx context.Context, p Principal) ([]store.User, error) {
	if err := operatorOnly(p); err != nil {
		return nil, err
	}
	return o.store.Users(ctx)
}

// AddUser creates an account with a generated password, returned once.
func (o *Operator) AddUser(ctx context.Context, p Principal, c UserChange) (store.User, string, error) {
	if err := operatorOnly(p); err != nil {
		return store.User{}, "", err
	}
	if err := o.checkUser(&c); err != nil {
		return store.User{}, "", err
	}
	pw := GeneratePassword()
	hash, err := HashPassword(pw)
	if err != nil {
		return store.User{}, "", err
	}
	u := store.User{Email: c.Email, Name: c.Name, Role: c.Role, Language: c.Language, Departments: c.Departments, Active: true, PasswordHash: hash}
	e := o.audit(p, "user.create", "user", c.Email, c.Role+" "+strings.Join(c.Departments, ","))
	err = o.store.Audited(ctx, e, func(tx *store.Tx) error { return tx.CreateUser(ctx, &u) })
	if errors.Is(err, store.ErrDuplicate) {
		return store.User{}, "", invalid("%s has an account already", c.Email)
	}
	return u, pw, err
}

// UpdateUser changes an account's name, role, language and departments.
func (o *Operator) UpdateUser(ctx context.Context, p Principal, id int64, c UserChange) error {
	if err := operatorOnly(p); err != nil {
		return err
	}
	u, err := o.store.UserByID(ctx, id)
	if err != nil {
		return err
	}
	c.Email = u.Email
	if err := o.checkUser(&c); err != nil {
		return err
	}
	if id == p.User.ID && c.Role != store.RoleOperator {
		return invalid("you cannot take away your own operator role")
	}
	detail := fmt.Sprintf("role %s→%s; departments %s→%s", u.Role, c.Role, strings.Join(u.Departments, ","), strings.Join(c.Departments, ","))
	u.Name, u.Role, u.Language, u.Departments = c.Name, c.Role, c.Language, c.Departments
	return o.store.Audited(ctx, o.audit(p, "user.update", "user", u.Email, detail), func(tx *store.Tx) error { return tx.UpdateUser(ctx, u) })
}

// SetUserActive disables (signing them out everywhere) or enables an
// account.
func (o *Operator) SetUserActive(ctx context.Context, p Principal, id int64, active bool) error {
	if err := operatorOnly(p); err != nil {
		return err
	}
	if id == p.User.ID && !active {
		return invalid("you cannot disable your own account")
	}
	u, err := o.store.UserByID(ctx, id)
	if err != nil {
		return err
	}
	action := map[bool]string{true: "user.enable", false: "user.disable"}[active]
	return o.store.Audited(ctx, o.audit(p, action, "user", u.Email, ""), func(tx *store.Tx) error { return tx.SetUserActive(ctx, id, active) })
}

// ResetPassword gives an account a new generated password (returned once)
// and ends its sessions.
func (o *Operator) ResetPassword(ctx context.Context, p Principal, id int64) (string, error) {
	if err := operatorOnly(p); err != nil {
		return "", err
	}
	u, err := o.store.UserByID(ctx, id)
	if err != nil {
		return "", err
	}
	pw := GeneratePassword()
	hash, err := HashPassword(pw)
	if err != nil {
		return "", err
	}
	err = o.store.Audited(ctx, o.audit(p, "user.password_reset", "user", u.Email, "sessions ended"), func(tx *store.Tx) error {
		return tx.SetUserPassword(ctx, id, hash)
	})
	return pw, err
}

// RevokeSessions signs an account out everywhere.
func (o *Operator) RevokeSessions(ctx context.Context, p Principal, id int64) error {
	if err := operatorOnly(p); err != nil {
		return err
	}
	u, err := o.store.UserByID(ctx, id)
	if err != nil {
		return err
	}
	return o.store.Audited(ctx, o.audit(p, "user.sessions_revoked", "user", u.Email, ""), func(tx *store.Tx) error {
		return tx.DeleteUserSessions(ctx, id)
	})
}

// DepartmentView is a department with its head and members.
type DepartmentView struct {
	ID, NameAR, NameEN string
	Head               int64 // user id; 0: none
	Members            []store.User
}

// Departments lists the bank's departments with each one's head (its
// default assignee) and active members.
func (o *Operator) Departments(ctx context.Context, p Principal) ([]DepartmentView, error) {
	if err := operatorOnly(p); err != nil {
		return nil, err
	}
	heads, err := o.store.DepartmentHeads(ctx)
	if err != nil {
		return nil, err
	}
	users, err := o.store.Users(ctx)
	if err != nil {
		return nil, err
	}
	var out []DepartmentView
	if b := o.svc.Bank(); b != nil {
		for _, d := range b.Departments() {
			v := DepartmentView{ID: d.ID, NameAR: d.Name.AR, NameEN: d.Name.EN, Head: heads[d.ID]}
			for _, u := range users {
				if u.Active && slices.Contains(u.Departments, d.ID) {
					v.Members = append(v.Members, u)
				}
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// SetDepartmentHead makes a member the department's head (0: none).
func (o *Operator) SetDepartmentHead(ctx context.Context, p Principal, department string, userID int64) error {
	if err := operatorOnly(p); err != nil {
		return err
	}
	if b := o.svc.Bank(); b != nil {
		if _, ok := b.Department(department); !ok {
			return invalid("unknown department %q", department)
		}
	}
	target := "none"
	if userID != 0 {
		u, err := o.store.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if !slices.Contains(u.Departments, department) {
			return invalid("%s is not in %s", u.Email, department)
		}
		target = u.Email
	}
	return o.store.Audited(ctx, o.audit(p, "department.head", "department", department, target), func(tx *store.Tx) error {
		return tx.SetDepartmentHead(ctx, department, userID)
	})
}
