package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/store"
)

// ChannelView is a channel as the channels page shows it: its row, what
// its connector last reported, its traffic, and how its sends fare.
type ChannelView struct {
	store.Channel
	// ReadOnly: the channel comes from the config file.
	ReadOnly bool
	// Status is the connector's last report (nil: none yet); StatusAt and
	// Replica say when and from where, Stale that the report is older
	// than the replica's heartbeat allows (that replica stopped).
	Status   *ConnectorStatus
	StatusAt time.Time
	Replica  string
	Stale    bool
	// Activity is the last 24 hours' messages in and replies out.
	Activity store.ChannelActivity
	Send     store.ChannelSendStatus
	// Webhook and StatusCallback are the URLs to paste into Twilio's
	// console (SMS channels).
	Webhook, StatusCallback string
}

// ChannelSettings is a channel's settings for its form: secrets blank,
// with the names of those that are stored (SecretsSet).
type ChannelSettings struct {
	Row        store.Channel
	Settings   config.Channel
	SecretsSet map[string]bool
}

// Channels lists every channel that is not deleted, the file's first.
func (o *Operator) Channels(ctx context.Context, p Principal) ([]ChannelView, error) {
	if err := operatorOnly(p); err != nil {
		return nil, err
	}
	rows, err := o.store.Channels(ctx)
	if err != nil {
		return nil, err
	}
	statuses, err := o.store.ChannelStatuses(ctx)
	if err != nil {
		return nil, err
	}
	sends, err := o.store.ChannelSendStatuses(ctx)
	if err != nil {
		return nil, err
	}
	now := o.cfg.Now()
	var out []ChannelView
	for _, row := range rows {
		if row.DeletedAt != nil {
			continue
		}
		v := ChannelView{Channel: row, ReadOnly: row.Source != store.SourceUI}
		if st, ok := statuses[row.ID]; ok {
			var cs ConnectorStatus
			if json.Unmarshal(st.Status, &cs) == nil {
				v.Status = &cs
			}
			v.StatusAt, v.Replica, v.Stale = st.UpdatedAt, st.Replica, now.Sub(st.UpdatedAt) > o.cfg.StaleAfter
		}
		if v.Activity, err = o.store.ChannelActivity(ctx, row.ID, now.Add(-24*time.Hour)); err != nil {
			return nil, err
		}
		for _, s := range sends {
			if s.ChannelID == row.ID {
				v.Send = s
			}
		}
		if row.Kind == message.SMS {
			v.Webhook, v.StatusCallback = o.gw.WebhookURLs(row.Name)
		}
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b ChannelView) int {
		if a.ReadOnly != b.ReadOnly {
			if a.ReadOnly {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// Channel is one channel's view.
func (o *Operator) Channel(ctx context.Context, p Principal, id int64) (ChannelView, error) {
	all, err := o.Channels(ctx, p)
	if err != nil {
		return ChannelView{}, err
	}
	for _, v := range all {
		if v.ID == id {
			return v, nil
		}
	}
	return ChannelView{}, fmt.Errorf("channel %d: %w", id, store.ErrNotFound)
}

// ChannelSettings is a UI channel's settings for its edit form.
func (o *Operator) ChannelSettings(ctx context.Context, p Principal, id int64) (ChannelSettings, error) {
	if err := operatorOnly(p); err != nil {
		return ChannelSettings{}, err
	}
	row, err := o.uiChannel(ctx, id)
	if err != nil {
		return ChannelSettings{}, err
	}
	var ch config.Channel
	if err := json.Unmarshal(row.Config, &ch); err != nil {
		return ChannelSettings{}, fmt.Errorf("channel %q settings: %w", row.Name, err)
	}
	ch.Name, ch.Kind = row.Name, row.Kind
	names, err := secrets.FieldNames(row.Secret)
	if err != nil {
		return ChannelSettings{}, fmt.Errorf("channel %q credentials: %w", row.Name, err)
	}
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return ChannelSettings{Row: row, Settings: ch.WithoutSecrets(), SecretsSet: set}, nil
}

// uiChannel reads a channel the UI may change.
func (o *Operator) uiChannel(ctx context.Context, id int64) (store.Channel, error) {
	row, err := o.store.Channel(ctx, id)
	if err != nil {
		return store.Channel{}, err
	}
	if row.DeletedAt != nil {
		return store.Channel{}, fmt.Errorf("channel %d: %w", id, store.ErrNotFound)
	}
	if row.Source != store.SourceUI {
		return store.Channel{}, invalid("channel %q comes from the config file: change it there", row.Name)
	}
	return row, nil
}

// withStored fills the secrets ch leaves blank from channel id's stored
// ones ("leave blank to keep").
func (o *Operator) withStored(row store.Channel, ch config.Channel) (config.Channel, error) {
	if row.ID == 0 || len(row.Secret) == 0 {
		return ch, nil
	}
	stored, err := secrets.OpenFields(o.cfg.Key, row.ID, row.Secret)
	if err != nil {
		return ch, invalid("the stored credentials cannot be read: %v", err)
	}
	keep := map[string]string{}
	for name, v := range ch.Secrets() {
		if v == "" && stored[name] != "" {
			keep[name] = stored[name]
		}
	}
	return ch.WithSecrets(keep), nil
}

// SaveChannel adds a channel (id 0) or changes a UI channel. Secrets left
// blank keep their stored values; the settings are validated and the
// connectors built (not run) before anything is stored; secrets are
// stored encrypted, and without a key refused. The running gateway picks
// the change up at once.
func (o *Operator) SaveChannel(ctx context.Context, p Principal, id int64, ch config.Channel, enabled bool) (store.Channel, error) {
	if err := operatorOnly(p); err != nil {
		return store.Channel{}, err
	}
	var row store.Channel
	if id != 0 {
		var err error
		if row, err = o.uiChannel(ctx, id); err != nil {
			return store.Channel{}, err
		}
		ch.Kind = row.Kind
	}
	ch.Disabled = false
	full, err := o.withStored(row, ch)
	if err != nil {
		return store.Channel{}, err
	}
	if err := config.ValidateChannel(full); err != nil {
		return store.Channel{}, invalid("%v", err)
	}
	if err := o.gw.CheckChannel(ctx, full); err != nil {
		return store.Channel{}, invalid("%v", err)
	}
	sec := full.Secrets()
	if o.cfg.Key == nil && slices.ContainsFunc(slices.Collect(maps.Values(sec)), func(v string) bool { return v != "" }) {
		return store.Channel{}, invalid("%v", secrets.ErrNoKey)
	}
	settings, err := json.Marshal(full.WithoutSecrets())
	if err != nil {
		return store.Channel{}, err
	}
	seal := func(id int64) ([]byte, error) { return secrets.SealFields(o.cfg.Key, id, sec) }
	changed := changedSecrets(ch)
	if id == 0 {
		row = store.Channel{Name: full.Name, Kind: full.Kind, Config: settings, Enabled: enabled}
		e := o.audit(p, "channel.create", "channel", full.Name, auditDetail(string(full.Kind), changed))
		err = o.store.Audited(ctx, e, func(tx *store.Tx) error { return tx.CreateChannel(ctx, &row, seal) })
	} else {
		e := o.audit(p, "channel.update", "channel", full.Name, auditDetail(renamed(row.Name, full.Name), changed))
		err = o.store.Audited(ctx, e, func(tx *store.Tx) error {
			secret, err := seal(id)
			if err != nil {
				return err
			}
			row.Name, row.Config, row.Enabled = full.Name, settings, enabled
			if err := tx.UpdateChannel(ctx, row, secret); err != nil {
				return err
			}
			if secret == nil {
				return tx.SetChannelSecret(ctx, id, nil)
			}
			return nil
		})
	}
	if errors.Is(err, store.ErrDuplicate) {
		return store.Channel{}, invalid("a channel named %q exists already", full.Name)
	}
	if err != nil {
		return store.Channel{}, err
	}
	o.gw.ChannelsChanged()
	return o.store.Channel(ctx, row.ID)
}

// changedSecrets names the secrets the form set (never their values).
func changedSecrets(ch config.Channel) []string {
	var out []string
	for name, v := range ch.Secrets() {
		if v != "" {
			out = append(out, name+" set")
		}
	}
	slices.Sort(out)
	return out
}

func renamed(from, to string) string {
	if from == to {
		return ""
	}
	return "renamed from " + from
}

func auditDetail(first string, more []string) string {
	parts := slices.DeleteFunc(append([]string{first}, more...), func(s string) bool { return s == "" })
	return strings.Join(parts, "; ")
}

// TestChannel tries a channel's settings against its servers: those in
// the form, with blank secrets taken from channel id's (0: a channel not
// stored yet). Nothing is stored, fetched or sent.
func (o *Operator) TestChannel(ctx context.Context, p Principal, id int64, ch config.Channel) ([]TestStep, error) {
	if err := operatorOnly(p); err != nil {
		return nil, err
	}
	var row store.Channel
	if id != 0 {
		var err error
		if row, err = o.uiChannel(ctx, id); err != nil {
			return nil, err
		}
		ch.Kind = row.Kind
	}
	full, err := o.withStored(row, ch)
	if err != nil {
		return nil, err
	}
	if full.Name == "" {
		full.Name = "test"
	}
	if err := config.ValidateChannel(full); err != nil {
		return nil, invalid("%v", err)
	}
	return o.gw.TestChannel(ctx, full), nil
}

// SetChannelEnabled starts or stops a UI channel.
func (o *Operator) SetChannelEnabled(ctx context.Context, p Principal, id int64, enabled bool) error {
	if err := operatorOnly(p); err != nil {
		return err
	}
	row, err := o.uiChannel(ctx, id)
	if err != nil {
		return err
	}
	action := map[bool]string{true: "channel.enable", false: "channel.disable"}[enabled]
	if err := o.store.Audited(ctx, o.audit(p, action, "channel", row.Name, ""), func(tx *store.Tx) error {
		return tx.SetChannelEnabled(ctx, id, enabled)
	}); err != nil {
		return err
	}
	o.gw.ChannelsChanged()
	return nil
}

// DeleteChannel stops a UI channel and forgets its credentials; its
// conversations and messages stay.
func (o *Operator) DeleteChannel(ctx context.Context, p Principal, id int64) error {
	if err := operatorOnly(p); err != nil {
		return err
	}
	row, err := o.uiChannel(ctx, id)
	if err != nil {
		return err
	}
	if err := o.store.Audited(ctx, o.audit(p, "channel.delete", "channel", row.Name, "history kept"), func(tx *store.Tx) error {
		return tx.DeleteChannel(ctx, id)
	}); err != nil {
		return err
	}
	o.gw.ChannelsChanged()
	return nil
}

// ChannelAction asks the replica driving a WhatsApp linked device to pair
// it (ActionPair: the QR codes then reach the page) or log it out.
func (o *Operator) ChannelAction(ctx context.Context, p Principal, id int64, action string) error {
	if err := operatorOnly(p); err != nil {
		return err
	}
	if action != ActionPair && action != ActionLogout {
		return invalid("unknown action %q", action)
	}
	row, err := o.store.Channel(ctx, id)
	if err != nil {
		return err
	}
	if row.Kind != message.WhatsApp || row.DeletedAt != nil {
		return invalid("channel %q is not a linked WhatsApp device", row.Name)
	}
	if err := o.store.Audited(ctx, o.audit(p, "channel."+action, "channel", row.Name, ""), func(tx *store.Tx) error {
		return tx.RequestChannelAction(ctx, id, action)
	}); err != nil {
		return err
	}
	o.gw.ChannelsChanged()
	return nil
}
