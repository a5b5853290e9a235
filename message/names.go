package message

// Name is the channel kind's name for people, {Arabic, English}: the inbox
// labels conversations, filters and reports with it.
func (k Kind) Name() [2]string {
	switch k {
	case Email:
		return [2]string{"بريد إلكتروني", "Email"}
	case SMS:
		return [2]string{"رسالة نصية", "SMS"}
	case WhatsApp:
		return [2]string{"واتساب", "WhatsApp"}
	case Form:
		return [2]string{"نموذج إلكتروني", "Online form"}
	case Phone:
		return [2]string{"مكالمة هاتفية", "Phone call"}
	}
	return [2]string{string(k), string(k)}
}

// By is the choice of sending by SMS or WhatsApp, {Arabic, English}, as
// the public form (the confirmation) and the call page (the links) offer
// it; Arabic puts a preposition of its own before each name.
func (k Kind) By() [2]string {
	switch k {
	case SMS:
		return [2]string{"برسالة نصية", "By SMS"}
	case WhatsApp:
		return [2]string{"عبر واتساب", "By WhatsApp"}
	}
	return [2]string{string(k), string(k)}
}
