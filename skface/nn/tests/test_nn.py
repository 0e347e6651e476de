import pytest
import torch
import torch.nn.functional as F

from skface.nn import (CBAM, FaceCNN, FocalLoss, NonLocalBlock, RotationTask, SEBlock,
                       attention_modules, rotated_copies)


@pytest.mark.parametrize("block", [SEBlock(32), CBAM(32), NonLocalBlock(32)])
def test_attention_block_keeps_shape_and_gets_gradients(block):
    torch.manual_seed(0)
    x = torch.randn(2, 32, 8, 8, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape
    (y ** 2).sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_nonlocal_block_starts_as_identity():
    block = NonLocalBlock(16).eval()
    x = torch.randn(1, 16, 4, 4)
    assert torch.allclose(block(x), x)


def test_attention_maps_are_hookable():
    maps = {}
    x = torch.randn(2, 32, 6, 6)
    se, cbam, nl = SEBlock(32), CBAM(32), NonLocalBlock(32)
    se.gate.register_forward_hook(lambda m, i, o: maps.__setitem__("se", o))
    cbam.spatial.register_forward_hook(lambda m, i, o: maps.__setitem__("cbam", o))
    nl.softmax.register_forward_hook(lambda m, i, o: maps.__setitem__("nl", o))
    se(x), cbam(x), nl(x)
    assert maps["se"].shape == (2, 32, 1, 1)
    assert maps["cbam"].shape == (2, 1, 6, 6)
    assert maps["nl"].shape == (2, 36, 36)
    assert torch.allclose(maps["nl"].sum(-1), torch.ones(2, 36))


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_backbone_variants_differ_and_train():
    counts = {}
    for attention in [None, "se", "cbam", "nonlocal"]:
        torch.manual_seed(0)
        net = FaceCNN(in_channels=3, width=16, depth=3, attention=attention)
        x = torch.randn(4, 3, 32, 32)
        out = net(x)
        assert out.shape == (4, 2)
        out.sum().backward()
        blocks = attention_modules(net)
        assert (len(blocks) > 0) == (attention is not None)
        for _, block in blocks:
            assert all(p.grad is not None for p in block.parameters())
        counts[attention] = _n_params(net)
    assert len(set(counts.values())) == 4
    # non-local goes on the lowest-resolution stage only by default; SE / CBAM after every stage
    assert len(attention_modules(FaceCNN(depth=3, attention="nonlocal"))) == 1
    assert len(attention_modules(FaceCNN(depth=3, attention="se"))) == 3
    assert len(attention_modules(FaceCNN(depth=3, attention="se", attention_stages=[1]))) == 1


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("convs", [1, 2])
def test_stage_pools_before_its_relu_with_the_same_numbers(residual, convs):
    # the stage pools the pre-activation and applies the ReLU after (cheaper); the textbook
    # order (ReLU, then pool) must give the same outputs and gradients, odd sides included
    from skface.nn._backbone import Stage

    torch.manual_seed(0)
    stage = Stage(3, 8, convs, residual, None, 16, pool=True)
    x = torch.randn(5, 3, 9, 7)
    x[0] = -5.0  # a whole image whose pre-activations may all be negative in some windows
    runs = []
    for pool_first in (True, False):
        stage.zero_grad()
        xi = x.clone().requires_grad_(True)
        out = stage(xi) if pool_first else F.max_pool2d(stage.conv(xi), 2, ceil_mode=True)
        out.backward(torch.linspace(-1, 1, out.numel()).reshape(out.shape))
        runs.append([out.detach(), xi.grad] + [p.grad.clone() for p in stage.parameters()])
    assert runs[0][0].shape == (5, 8, 5, 4)
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # with attention between the ReLU and the pool the order cannot change
    se = Stage(3, 8, 1, False, "se", 4, pool=True).eval()
    with torch.no_grad():
        expected = F.max_pool2d(se.attention(se.conv(x)), 2, ceil_mode=True)
        torch.testing.assert_close(se(x), expected, rtol=0, atol=0)


def test_backbone_handles_one_row_images_and_features():
    net = FaceCNN(in_channels=1, depth=4, width=4, attention="cbam").eval()
    assert net(torch.randn(3, 1, 1, 5)).shape == (3, 2)
    assert net.forward_features(torch.randn(2, 1, 16, 16)).shape == (2, 32, 2, 2)


def test_head_grid_keeps_where_features_sit():
    net = FaceCNN(width=4, depth=3, head_grid=2).eval()
    assert net.head.in_features == 16 * 2 * 2
    x = torch.rand(2, 3, 16, 16)
    feats = net.forward_features(x)  # (2, 16, 4, 4)
    cells = torch.nn.functional.adaptive_avg_pool2d(feats, 2)
    # the head weighs channel c of cell (i, j) with column 4c + 2i + j, in either layout
    expected = cells.flatten(1) @ net.head.weight.T + net.head.bias
    torch.testing.assert_close(net(x), expected)
    net_cl = net.to(memory_format=torch.channels_last)
    torch.testing.assert_close(net_cl(x.contiguous(memory_format=torch.channels_last)), expected)
    # with one cell it is global average pooling again
    one = FaceCNN(width=4, depth=3, head_grid=1).eval()
    torch.testing.assert_close(
        one(x), one.forward_features(x).mean(dim=(2, 3)) @ one.head.weight.T + one.head.bias)


def test_backbone_rejects_bad_config():
    with pytest.raises(ValueError, match="whole numbers >= 1; got head_grid=0"):
        FaceCNN(head_grid=0)
    # depth=0 built a network with no convolution; 2.7 was cut to 2; n_classes=0 gave (N, 0)
    for kwargs, named in (({"depth": 0}, "depth=0"), ({"width": 2.5}, "width=2.5"),
                          ({"view_size": 2.7}, "view_size=2.7"),
                          ({"in_channels": 0}, "in_channels=0"),
                          ({"n_classes": 0}, r"n_classes=0 \(2 or more\)")):
        with pytest.raises(ValueError, match=f"whole numbers >= 1; got {named}"):
            FaceCNN(**kwargs)
    assert FaceCNN(width=4.0, depth=2.0).stages[0].conv.body[0].out_channels == 4
    with pytest.raises(ValueError, match="Unknown attention 'transformer'"):
        FaceCNN(attention="transformer")
    with pytest.raises(ValueError, match="outside 0..2"):
        FaceCNN(depth=3, attention="se", attention_stages=[3])


@pytest.mark.parametrize("weight", [None, [0.3, 2.0]])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_focal_loss_gamma_zero_is_cross_entropy(weight, smoothing):
    torch.manual_seed(0)
    logits = torch.randn(50, 2, dtype=torch.float64)
    target = torch.randint(0, 2, (50,))
    w = None if weight is None else torch.tensor(weight)
    ours = FocalLoss(gamma=0.0, weight=w, label_smoothing=smoothing)(logits, target)
    ref = F.cross_entropy(logits.float(), target,
                          weight=None if w is None else w.float(), label_smoothing=smoothing)
    assert torch.allclose(ours, ref, atol=1e-6)


def test_focal_loss_multiclass_and_sum_reduction():
    torch.manual_seed(1)
    logits = torch.randn(20, 4)
    target = torch.randint(0, 4, (20,))
    ours = FocalLoss(reduction="sum")(logits, target)
    assert torch.allclose(ours, F.cross_entropy(logits, target, reduction="sum"), atol=1e-5)


def test_focal_loss_down_weights_easy_examples():
    logits = torch.tensor([[4.0, -4.0], [0.2, -0.2]])  # easy, hard (both class 0)
    target = torch.tensor([0, 0])
    ce = FocalLoss(gamma=0.0, reduction="none")(logits, target)
    fl = FocalLoss(gamma=2.0, reduction="none")(logits, target)
    ratio = fl / ce
    assert ratio[0] < 1e-3 and ratio[1] > 0.1  # the easy one shrinks far more
    assert torch.all(fl <= ce)
    assert FocalLoss(gamma=5.0)(logits, target) < FocalLoss(gamma=1.0)(logits, target)


def test_focal_loss_rejects_negative_gamma():
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        FocalLoss(gamma=-1)


def test_space_to_depth_keeps_every_pixel():
    torch.manual_seed(0)
    net = FaceCNN(width=4, depth=2, space_to_depth=2).eval()
    assert net.stages[0].conv.body[0].in_channels == 12
    x = torch.rand(3, 3, 16, 16)
    assert net(x).shape == (3, 2)
    # the first stage sees the folded image: a one-pixel change moves its input
    folded = F.pixel_unshuffle(x, 2)
    assert folded.shape == (3, 12, 8, 8)
    x2 = x.clone()
    x2[:, :, 1, 1] += 1.0
    assert not torch.allclose(net(x), net(x2))
    with pytest.raises(ValueError, match="multiples of 2"):
        net(torch.rand(1, 3, 15, 16))
    with pytest.raises(ValueError, match="space_to_depth"):
        FaceCNN(space_to_depth=0)


def test_probability_average_returns_log_mean_probability():
    from skface.nn import ProbabilityAverage

    torch.manual_seed(0)
    members = [FaceCNN(width=4, depth=2).eval() for _ in range(3)]
    x = torch.rand(5, 3, 8, 8)
    out = ProbabilityAverage(members).eval()(x)
    expected = torch.stack([torch.softmax(m(x), 1) for m in members]).mean(0)
    torch.testing.assert_close(torch.softmax(out, 1), expected)
    torch.testing.assert_close(out.exp(), expected)
    with pytest.raises(ValueError, match="at least one"):
        ProbabilityAverage([])


def test_scores_do_not_depend_on_the_rest_of_the_batch():
    torch.manual_seed(0)
    net = FaceCNN(width=8, depth=2).eval()
    x = torch.rand(37, 3, 8, 8)
    perm = torch.randperm(37)
    with torch.no_grad():
        whole = net(x)
        assert torch.equal(net(x[perm]), whole[perm])
        assert torch.equal(torch.cat([net(x[:5]), net(x[5:])]), whole)
        # the same map as the linear layer it holds
        torch.testing.assert_close(whole, net.head(net.forward_features(x).mean(dim=(2, 3))))


def test_facecnn_zoomed_view():
    from skface.nn import FaceCNN, view_box

    x = torch.rand(2, 3, 20, 20)
    net = FaceCNN(width=4, depth=2, zoom=2.0)  # no view_size: the 10 x 10 middle as it is
    assert net.view_box(20, 20) == view_box(20, 20, 2.0) == (5, 5, 10, 10)
    torch.testing.assert_close(net.view(x), x[..., 5:15, 5:15])
    up = FaceCNN(width=4, depth=2, zoom=2.0, view_size=16).view(x)  # enlarged: bilinear
    assert up.shape == (2, 3, 16, 16)
    assert FaceCNN(width=4, depth=2).view(x) is x  # the defaults change nothing
    assert net(x).shape == (2, 2)
    for bad in (0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="zoom must be a finite number >= 1"):
            FaceCNN(zoom=bad)
    with pytest.raises(ValueError, match="view_size"):
        FaceCNN(view_size=0)


def test_rotated_copies_turn_the_first_images():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 6, 6)
    batch, turns = rotated_copies(x, fraction=0.5)
    assert batch.shape == (12, 3, 6, 6) and turns.shape == (12,)
    assert torch.equal(batch[:8], x) and torch.equal(turns[:8], torch.zeros(8, dtype=torch.long))
    for i in range(4):
        assert 1 <= turns[8 + i] <= 3
        assert torch.equal(batch[8 + i], torch.rot90(x[i], int(turns[8 + i]), dims=(-2, -1)))
    # every turn is drawn, and a uint8 batch stays uint8
    _, many = rotated_copies(torch.zeros(300, 1, 2, 2, dtype=torch.uint8), fraction=1.0)
    assert set(many[300:].tolist()) == {1, 2, 3}
    assert rotated_copies(torch.zeros(3, 1, 2, 2, dtype=torch.uint8))[0].dtype == torch.uint8
    # at least one copy, even of a one-image batch
    assert rotated_copies(torch.rand(1, 3, 4, 4), fraction=0.1)[0].shape[0] == 2
    with pytest.raises(ValueError, match="square images"):
        rotated_copies(torch.rand(2, 3, 4, 6))
    with pytest.raises(ValueError, match="fraction must be in"):
        rotated_copies(torch.rand(2, 3, 4, 4), fraction=0.0)


def test_rotation_task_scores_upright_rows_and_trains_the_backbone():
    torch.manual_seed(0)
    backbone = FaceCNN(width=4, depth=2)
    task = RotationTask(backbone).eval()
    assert task.head.in_features == backbone.n_features_out and task.head.out_features == 4
    x = torch.rand(6, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(task(x), backbone(x))
        logits, turn_logits = task.forward_with_rotation(x, n_upright=4)
        torch.testing.assert_close(logits, backbone(x[:4]))
        assert turn_logits.shape == (6, 4)
    # the rotation loss alone reaches the backbone's first convolution, not its class head
    task.train()
    _, turn_logits = task.forward_with_rotation(x, n_upright=4)
    F.cross_entropy(turn_logits, torch.tensor([0, 1, 2, 3, 0, 1])).backward()
    assert backbone.stages[0].conv.body[0].weight.grad.abs().sum() > 0
    assert backbone.head.weight.grad is None


def test_rotation_task_learns_which_way_is_up():
    """Images lit from the top: after a few steps the head tells the four turns apart."""
    torch.manual_seed(0)
    ramp = torch.linspace(1, 0, 8)[:, None].expand(8, 8)
    task = RotationTask(FaceCNN(width=8, depth=2, dropout=0.0))
    opt = torch.optim.Adam(task.parameters(), lr=1e-2)
    for _ in range(60):
        x = (ramp + 0.3 * torch.rand(32, 3, 8, 8)).clamp(0, 1)
        batch, turns = rotated_copies(x, fraction=1.0)
        _, turn_logits = task.forward_with_rotation(batch, n_upright=32)
        loss = F.cross_entropy(turn_logits, turns)
        opt.zero_grad()
        loss.backward()
        opt.step()
    task.eval()
    with torch.no_grad():
        batch, turns = rotated_copies((ramp + 0.3 * torch.rand(64, 3, 8, 8)).clamp(0, 1), 1.0)
        _, turn_logits = task.forward_with_rotation(batch, n_upright=64)
    assert (turn_logits.argmax(1) == turns).float().mean() > 0.9


@pytest.mark.parametrize("gamma", [0.5, 0.9, 2.0])
def test_focal_loss_gradient_stays_finite_on_sure_predictions(gamma):
    # a probability of exactly 1: (1 - p)^gamma has an infinite slope there below gamma 1
    logits = torch.tensor([[0.0, 200.0], [0.3, -0.2]], requires_grad=True)
    loss = FocalLoss(gamma=gamma)(logits, torch.tensor([1, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_focal_loss_zero_weights_and_bad_arguments():
    loss = FocalLoss(gamma=2.0, weight=torch.tensor([0.0, 1.0]))
    assert loss(torch.randn(4, 2), torch.zeros(4, dtype=torch.long)).item() == 0.0  # not NaN
    for kwargs in ({"gamma": float("nan")}, {"label_smoothing": 1.5}):
        with pytest.raises(ValueError, match="gamma|label_smoothing"):
            FocalLoss(**kwargs)
    with pytest.raises(ValueError, match=r"logits of shape \(N, n_classes\)"):
        FocalLoss()(torch.randn(2, 2, 3, 3), torch.zeros(2, dtype=torch.long))


def test_focal_loss_is_finite_where_cross_entropy_is():
    # a class with probability exactly 0 (a -inf logit, or float32 overflow) outside the
    # target: 0 * log 0 must count as 0, as in cross_entropy, not as NaN
    target = torch.tensor([0])
    for row in ([0.0, -float("inf")], [3e38, -3e38]):
        for gamma in (0.0, 2.0):
            logits = torch.tensor([row], requires_grad=True)
            loss = FocalLoss(gamma=gamma)(logits, target)
            loss.backward()
            assert loss.item() == pytest.approx(F.cross_entropy(logits.detach(), target).item())
            assert torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        FocalLoss(gamma=float("inf"))


def test_crop_view_averages_every_axis_it_shrinks():
    from skface.nn import crop_view

    # rows alternate 0 / 1: a 300 x 40 crop shrunk to 64 rows must average them, not alias
    x = (torch.arange(300).float() % 2).view(1, 1, 300, 1).expand(1, 1, 300, 40)
    view = crop_view(x, view_size=64)
    assert view.shape == (1, 1, 64, 64)
    assert float(view.min()) > 0.35 and float(view.max()) < 0.65


def test_attention_arguments_are_checked():
    with pytest.raises(ValueError, match="reduction must be an integer >= 1"):
        SEBlock(8, reduction=0)
    for block in (SEBlock, CBAM, NonLocalBlock):  # 0 built a block; -3 and 2.5 failed in torch
        for channels in (0, -3, 2.5):
            with pytest.raises(ValueError, match="channels must be an integer >= 1"):
                block(channels)
    with pytest.raises(ValueError, match="odd integer"):
        CBAM(8, kernel_size=6)
    with pytest.raises(ValueError, match="stage numbers"):
        FaceCNN(width=4, depth=3, attention="se", attention_stages=[1.7])
    assert len(FaceCNN(width=4, depth=3, attention="se", attention_stages=[1.0]).stages) == 3
    # what int() cannot read is named, not left to int()'s own message
    for bad in ("a", None, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="reduction must be an integer >= 1"):
            SEBlock(8, reduction=bad)
    with pytest.raises(ValueError, match="stage numbers"):
        FaceCNN(width=4, depth=3, attention="se", attention_stages=["first"])
    # a whole float is a whole number: torch's layers got 7.0 and failed
    out = CBAM(8, kernel_size=7.0)(torch.rand(1, 8, 6, 6))
    assert out.shape == (1, 8, 6, 6)


def test_loss_and_view_arguments_are_checked():
    """Negative or NaN class weights gave a loss of -5e35 or NaN; float targets were cut to
    class 0; a zoom of 0 divided by zero and a negative one gave a 1 x 1 view; a view size of
    0 gave an empty tensor."""
    from skface.nn import crop_view, view_box

    for weight in ([1.0, -2.0], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="one finite weight >= 0 per class"):
            FocalLoss(weight=weight)
    logits = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="class indices"):
        FocalLoss()(logits, torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="3 class weights for logits of 2"):
        FocalLoss(weight=[1.0, 1.0, 1.0])(logits, torch.tensor([0, 1]))
    for zoom in (0, -2, float("inf")):
        with pytest.raises(ValueError, match="zoom must be a finite number >= 1"):
            view_box(10, 10, zoom)
    with pytest.raises(ValueError, match="whole height and width"):
        view_box(-5, 10, 1)
    with pytest.raises(ValueError, match="view_size must be"):
        crop_view(torch.zeros(1, 3, 8, 8), 1.0, 0)


def test_small_nn_helpers_name_bad_arguments():
    """NonLocalBlock(inter_channels=0) took the default, default_attention_stages('bogus')
    gave every stage, rotated_copies of an empty batch failed on a mask shape."""
    from skface.nn import rotated_copies
    from skface.nn._backbone import default_attention_stages

    with pytest.raises(ValueError, match="inter_channels must be an int >= 1"):
        NonLocalBlock(4, inter_channels=0)
    with pytest.raises(ValueError, match="Unknown attention 'bogus'"):
        default_attention_stages("bogus", 3)
    with pytest.raises(ValueError, match="the batch is empty"):
        rotated_copies(torch.rand(0, 3, 8, 8))


def test_ensemble_and_rotation_wrappers_check_their_networks():
    """Members with other class counts failed in torch.stack at the first forward pass; a
    RotationTask of another module failed with an AttributeError."""
    from skface.nn import ProbabilityAverage

    with pytest.raises(ValueError, match="disagree on the number of classes"):
        ProbabilityAverage([FaceCNN(width=4, depth=2), FaceCNN(width=4, depth=2, n_classes=3)])
    with pytest.raises(TypeError, match="RotationTask wraps a skface.nn.FaceCNN"):
        RotationTask(torch.nn.Linear(2, 2))
